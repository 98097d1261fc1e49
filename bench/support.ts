/** What the benchmarks share: a free loopback port and one autocannon phase with its summary. */
import autocannon from 'autocannon';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolvePromise) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePromise(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface Phase {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
}

/** POSTs `body` as JSON to `url` for `seconds` with `connections`, printing progress. */
export async function runPhase(
  name: string,
  url: string,
  body: unknown,
  options: { connections: number; seconds: number; headers?: Record<string, string> },
): Promise<Phase> {
  const { connections, seconds } = options;
  process.stdout.write(`  ${name}: ${seconds}s at ${connections} connection(s) … `);
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    duration: seconds,
    timeout: 30,
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify(body),
  });
  const phase = {
    name,
    rps: result.requests.total / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + result.timeouts,
  };
  process.stdout.write(`${phase.rps.toFixed(1)} req/s, p99 ${phase.p99} ms\n`);
  return phase;
}

/** Signs up a fresh organization through the gateway at `gatewayUrl` and returns its access token. */
export async function signUpForBench(
  gatewayUrl: string,
  organizationName: string,
): Promise<string> {
  const response = await fetch(`${gatewayUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }',
      variables: {
        i: {
          email: `bench-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`,
          password: 'Correct horse battery staple 42',
          organizationName,
        },
      },
    }),
  });
  const body = (await response.json()) as { data?: { signUp: { accessToken: string } } };
  if (!body.data) throw new Error(`sign-up failed: ${JSON.stringify(body)}`);
  return body.data.signUp.accessToken;
}
