/**
 * What the benchmarks share: a free loopback port, one autocannon phase with its summary, a
 * supergraph in a child process, and a sign-up.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

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

export interface SupergraphProcess {
  child: ChildProcess;
  gatewayUrl: string;
  gpuAgentUrl: string;
  stop(): Promise<void>;
}

/**
 * Boots the supergraph in a child process (bench/supergraph-process.ts, NODE_ENV=production, no
 * rate limits in the way) on embedded stores, or on PostgreSQL/Redis/S3 when `env` names them.
 */
export async function startSupergraphProcess(
  label: string,
  env: Record<string, string | undefined> = {},
): Promise<SupergraphProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      // BENCH_CPU_PROFILE_DIR=… writes a V8 CPU profile of the supergraph for each run.
      ...(process.env.BENCH_CPU_PROFILE_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR}`]
        : []),
      '--import',
      'tsx',
      join(import.meta.dirname, 'supergraph-process.ts'),
    ],
    {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        LOTABOTS_SECRET: 'bench-secret-bench-secret-bench-secret-0123',
        LOTABOTS_DATA_DIR: mkdtempSync(join(tmpdir(), `lotabots-bench-${label}-`)),
        PORT: String(port),
        PASSWORD_HASH_LOG2N: '14',
        RATE_LIMIT_FREE: '100000000',
        RATE_LIMIT_ANONYMOUS: '100000000',
        QUOTA_TIER_LIMITS: JSON.stringify({
          FREE: {
            CONCURRENT_ATTESTATIONS: 1e9,
            ATTESTATIONS_PER_DAY: 1e9,
            GPU_ALLOCATION_HOURS: 1e9,
          },
        }),
        GPU_DEMO_NODE: 'false',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  const output = child.stdout;
  if (!output) throw new Error('the supergraph process has no stdout');
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: output });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`supergraph exited with ${code}`)));
  });
  const ready = JSON.parse(line) as { gatewayPort: number; gpuAgentUrl: string };
  return {
    child,
    gatewayUrl: `http://127.0.0.1:${ready.gatewayPort}`,
    gpuAgentUrl: ready.gpuAgentUrl,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** The value at percentile `p` (0–100) of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
