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
