/**
 * npm run bench:gateway — what LotaBots' gateway layers cost, against a plain @apollo/gateway.
 *
 * One federated query whose plan takes three dependent steps across four subgraphs
 * (identity → fleet → attestations → billing, with lists: 1 + 1 + 16 + 48 entities) runs against
 *   a. plain — @apollo/gateway in Apollo Server, forwarding the Authorization header, nothing else
 *   b. ours  — `startGateway` with token verification, access rules, operation limits, persisted
 *              queries, rate limits (on, with a limit too high to refuse) and metrics
 * Both serve the same composed supergraph and route to the SAME subgraph process: the real
 * identity subgraph and in-memory synthetic ones (bench/gateway/synthetic.ts). Load comes from
 * autocannon in a third process (bench/gateway/load.ts) over loopback, so `process.cpuUsage()`
 * here measures the gateway under test alone. After a warm-up of each, phases alternate
 * a, b, a, b … and the better round of each counts. Prints req/s, p50/p99, gateway CPU ms and
 * subgraph calls per request, and the throughput ratio b/a against the 0.85 target.
 * Exits non-zero only when requests failed (connection errors, timeouts, non-2xx answers or an
 * answer that differs from the expected one), never because of the ratio.
 *
 * Every connection carries its own access token (same user, separate logins), as distinct clients
 * would; BENCH_SHARED_TOKEN=1 sends one token on all connections, which lets the gateway share
 * subgraph calls between identical requests in flight (watch "subgraph calls/req" drop).
 *
 * Knobs: BENCH_SECONDS (8), BENCH_ROUNDS (2), BENCH_WARMUP_SECONDS (8), BENCH_CONNECTIONS (10).
 * Profiling: `node --cpu-prof --import tsx bench/gateway.bench.ts` profiles the gateways' process;
 * BENCH_CPU_PROF_DIR=dir also writes profiles of the subgraph and load processes there.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startGateway } from '../gateway/index.ts';
import { applyProcessSettings, loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { createRuntime } from '../platform/runtime.ts';
import type { RunningService } from '../platform/subgraph-server.ts';
import { composeSupergraph, readSubgraphs } from '../schema/compose.ts';
import type { LoadRequest, LoadResult } from './gateway/load.ts';
import { startPlainGateway } from './gateway/plain.ts';
import type { ChildMessage, ParentMessage } from './gateway/subgraphs.ts';
import {
  ATTESTATIONS_PER_GPU,
  GPUS_PER_NODE,
  NODES_PER_ORGANIZATION,
  syntheticSubgraphs,
} from './gateway/synthetic.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const sharedToken = process.env.BENCH_SHARED_TOKEN === '1';
const cpuProfileDir = process.env.BENCH_CPU_PROF_DIR;
const TARGET = 0.85;
const profileWindows: { name: string; startUs: bigint; endUs: bigint }[] = [];

const root = resolve(import.meta.dirname, '..');

const QUERY = `query FleetAttestationCharges {
  organization {
    id
    name
    slug
    tier
    nodes {
      id
      hostname
      gpus {
        id
        model
        memoryGb
        attestations {
          id
          status
          measuredAt
          charge {
            amountCents
            currency
          }
        }
      }
    }
  }
}`;
const body = JSON.stringify({ query: QUERY, operationName: 'FleetAttestationCharges' });
const expectedAttestations = NODES_PER_ORGANIZATION * GPUS_PER_NODE * ATTESTATIONS_PER_GPU;

// --- child processes ---------------------------------------------------------------------------

interface Child<In, Out extends { type: string }> {
  send(message: In): void;
  next<T extends Out['type']>(type: T, timeoutMs: number): Promise<Extract<Out, { type: T }>>;
  stop(): Promise<void>;
}

/** Forks a TypeScript module of bench/gateway/ with an IPC channel. */
function forkChild<In, Out extends { type: string }>(
  module: string,
  args: string[] = [],
): Child<In, Out> {
  const child: ChildProcess = fork(join(root, 'bench', 'gateway', module), args, {
    cwd: root,
    execArgv: [
      '--import',
      'tsx',
      ...(cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T extends Out['type']>(type: T, timeoutMs: number) =>
    new Promise<Extract<Out, { type: T }>>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${module} sent no '${type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (message: Out) => {
        if (message.type !== type) return;
        cleanup();
        resolvePromise(message as Extract<Out, { type: T }>);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`${module} exited (${code}) before sending '${type}'`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return {
    send: (message) => void child.send(message as object),
    next,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

type SubgraphChild = Child<ParentMessage, ChildMessage>;
type LoadChild = Child<LoadRequest, LoadResult | { type: 'ready' }>;

/** Requests received by all subgraphs together, and the subgraph process's CPU time. */
async function subgraphStats(
  subgraphs: SubgraphChild,
): Promise<{ calls: number; cpuMicros: number }> {
  const reply = subgraphs.next('stats', 10_000);
  subgraphs.send({ type: 'stats' });
  const { calls, cpuMicros } = await reply;
  return { calls: Object.values(calls).reduce((a, b) => a + b, 0), cpuMicros };
}

// --- phases ------------------------------------------------------------------------------------

interface Target {
  name: string;
  url: string;
  expectBody: string;
}

interface Phase {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  cpuMsPerRequest: number;
  /** Gateway CPU as a share of one core over the phase. */
  cpuShare: number;
  subgraphCallsPerRequest: number;
  subgraphCpuMsPerRequest: number;
  errors: number;
}

async function phase(
  target: Target,
  tokens: string[],
  subgraphs: SubgraphChild,
  load: LoadChild,
  duration: number,
): Promise<Phase> {
  process.stdout.write(`  ${target.name}: ${duration}s at ${connections} connections … `);
  const before = await subgraphStats(subgraphs);
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  const done = load.next('result', (duration + 60) * 1000);
  load.send({
    type: 'run',
    url: target.url,
    body,
    tokens,
    expectBody: target.expectBody,
    connections,
    seconds: duration,
  });
  const result = await done;
  // Requests still in flight when the load stops finish within a moment; their work counts too
  // (per request sent, below).
  await new Promise((r) => setTimeout(r, 300));
  const cpu = process.cpuUsage(cpuBefore);
  const wallAfter = process.hrtime.bigint();
  const wallMs = Number(wallAfter - wallBefore) / 1e6;
  // Phase windows on the clock V8 profiles use (µs), to attribute profile samples to phases.
  profileWindows.push({ name: target.name, startUs: wallBefore / 1000n, endUs: wallAfter / 1000n });
  const after = await subgraphStats(subgraphs);
  const sent = Math.max(result.sent, 1);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const measured: Phase = {
    name: target.name,
    rps: result.completed / result.seconds,
    p50: result.p50,
    p99: result.p99,
    cpuMsPerRequest: cpuMs / sent,
    cpuShare: cpuMs / wallMs,
    subgraphCallsPerRequest: (after.calls - before.calls) / sent,
    subgraphCpuMsPerRequest: (after.cpuMicros - before.cpuMicros) / 1000 / sent,
    errors: result.errors,
  };
  process.stdout.write(
    `${measured.rps.toFixed(0)} req/s, gateway ${measured.cpuMsPerRequest.toFixed(2)} CPU ms/req` +
      `${measured.errors ? `, ${measured.errors} errors` : ''}\n`,
  );
  return measured;
}

// --- main --------------------------------------------------------------------------------------

async function post(url: string, payload: unknown, token?: string): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${text.slice(0, 500)}`);
  return text;
}

interface QueryResult {
  data?: {
    organization: {
      nodes: { gpus: { attestations: { charge: { currency: string } }[] }[] }[];
    } | null;
  };
  errors?: unknown[];
}

/** One request through a gateway: checks the answer is complete and returns it verbatim. */
async function probe(url: string, token: string): Promise<string> {
  const text = await post(url, body, token);
  const result = JSON.parse(text) as QueryResult;
  const attestations = (result.data?.organization?.nodes ?? [])
    .flatMap((n) => n.gpus)
    .flatMap((g) => g.attestations)
    .filter((a) => a.charge.currency === 'USD').length;
  if (result.errors || attestations !== expectedAttestations) {
    throw new Error(`${url} did not answer the benchmark query completely: ${text.slice(0, 500)}`);
  }
  return text;
}

/** Signs up one user through the gateway, then logs in again for one token per connection. */
async function accessTokens(
  url: string,
  count: number,
): Promise<{ tokens: string[]; tier: string }> {
  const credentials = {
    email: 'bench-gateway@example.com',
    password: 'benchmark password 2026 gw',
  };
  const signUp = JSON.parse(
    await post(url, {
      query:
        'mutation($i: SignUpInput!) { signUp(input: $i) { accessToken organization { tier } } }',
      variables: { i: { ...credentials, organizationName: 'Gateway Bench' } },
    }),
  ) as { data?: { signUp: { accessToken: string; organization: { tier: string } } } };
  if (!signUp.data) throw new Error(`sign-up failed: ${JSON.stringify(signUp)}`);
  const tokens = [signUp.data.signUp.accessToken];
  while (tokens.length < count) {
    const login = JSON.parse(
      await post(url, {
        query: 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }',
        variables: { i: credentials },
      }),
    ) as { data?: { login: { accessToken: string } } };
    if (!login.data) throw new Error(`login failed: ${JSON.stringify(login)}`);
    tokens.push(login.data.login.accessToken);
  }
  return { tokens, tier: signUp.data.signUp.organization.tier };
}

function row(p: Phase, errors: number): string {
  return (
    `${p.name.padEnd(9)} ${p.rps.toFixed(1).padStart(7)} ${p.p50.toFixed(0).padStart(7)} ` +
    `${p.p99.toFixed(0).padStart(7)} ${p.cpuMsPerRequest.toFixed(2).padStart(11)} ` +
    `${`${(p.cpuShare * 100).toFixed(0)}%`.padStart(8)} ` +
    `${p.subgraphCallsPerRequest.toFixed(2).padStart(14)} ` +
    `${p.subgraphCpuMsPerRequest.toFixed(2).padStart(13)} ${String(errors).padStart(6)}`
  );
}

async function main(): Promise<void> {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'lotabots-bench-gateway-'));
  const env = {
    LOG_LEVEL: 'silent',
    NODE_ENV: 'production',
    LOTABOTS_SECRET: randomBytes(32).toString('base64url'),
    TOKEN_ISSUER: 'https://bench.lotabots.dev',
    // The benchmark logs in once per connection; it is not about scrypt.
    PASSWORD_HASH_LOG2N: '14',
  };
  mkdirSync(join(dataDir, 'subgraphs'));
  const subgraphs: SubgraphChild = forkChild('subgraphs.ts', [
    JSON.stringify({ ...env, LOTABOTS_DATA_DIR: join(dataDir, 'subgraphs') }),
  ]);
  const load: LoadChild = forkChild('load.ts');
  let ours: RunningService | null = null;
  let plain: { url: string; stop: () => Promise<void> } | null = null;
  let closeRuntime: () => Promise<void> = () => Promise.resolve();
  try {
    // Identity creates and migrates its embedded database first: that takes a while.
    const [{ urls }] = await Promise.all([
      subgraphs.next('ready', 90_000),
      load.next('ready', 90_000),
    ]);
    const sources = [
      ...readSubgraphs().map((s) => ({ ...s, url: urls[s.name] ?? s.url })),
      ...syntheticSubgraphs.map((s) => ({
        name: s.name,
        url: urls[s.name] ?? '',
        file: `bench/gateway/synthetic.ts (${s.name})`,
        sdl: s.sdl,
      })),
    ];
    const supergraphSdl = composeSupergraph(sources);
    const supergraphPath = join(dataDir, 'supergraph.graphql');
    writeFileSync(supergraphPath, supergraphSdl);

    const config = loadConfig({
      ...env,
      LOTABOTS_DATA_DIR: join(dataDir, 'gateway'),
      SUPERGRAPH_PATH: supergraphPath,
      SUPERGRAPH_WATCH: 'false',
      RATE_LIMIT_ENABLED: 'true',
      // On and metering every request, but far above what the benchmark can spend.
      RATE_LIMIT_FREE: '1000000000',
      RATE_LIMIT_PRO: '1000000000',
      RATE_LIMIT_ENTERPRISE: '1000000000',
      RATE_LIMIT_ANONYMOUS: '1000000000',
    });
    applyProcessSettings(config);
    const runtime = createRuntime(config, createLogger(config));
    closeRuntime = () => runtime.close();
    ours = await startGateway(runtime, {
      host: '127.0.0.1',
      port: 0,
      subgraphUrls: urls,
      identityUrl: urls.identity ?? '',
    });
    plain = await startPlainGateway(supergraphSdl);

    const { tokens, tier } = await accessTokens(ours.url, sharedToken ? 1 : connections);
    const first = tokens[0] ?? '';
    const a: Target = {
      name: 'a plain',
      url: plain.url,
      expectBody: await probe(plain.url, first),
    };
    const b: Target = { name: 'b ours', url: ours.url, expectBody: await probe(ours.url, first) };
    if (JSON.stringify(JSON.parse(a.expectBody)) !== JSON.stringify(JSON.parse(b.expectBody))) {
      throw new Error('the two gateways answer the benchmark query differently');
    }
    console.log(
      `gateway benchmark: one query, 3-step plan over 4 subgraphs (identity → fleet → attestations ` +
        `→ billing, ${expectedAttestations} attestations, ${Buffer.byteLength(a.expectBody)} B answer); ` +
        `tier ${tier}; ${connections} connections, ${sharedToken ? 'one shared token' : 'a token each'}; ` +
        `${warmupSeconds}s warm-up then ${rounds} × ${seconds}s per gateway, alternating ` +
        `(ready after ${((Date.now() - started) / 1000).toFixed(0)}s)`,
    );

    for (const target of [a, b]) await phase(target, tokens, subgraphs, load, warmupSeconds);
    const measured: Phase[] = [];
    for (let i = 0; i < rounds; i++) {
      for (const target of [a, b]) {
        measured.push(await phase(target, tokens, subgraphs, load, seconds));
      }
    }
    const best = (name: string) =>
      measured.filter((p) => p.name === name).reduce((x, y) => (y.rps > x.rps ? y : x));
    const errorsOf = (name: string) =>
      measured.filter((m) => m.name === name).reduce((sum, m) => sum + m.errors, 0);
    const bestA = best(a.name);
    const bestB = best(b.name);

    console.log(
      `\n(best of ${rounds} rounds; CPU = this process, i.e. the gateway under test; ` +
        `"CPU core" = its share of one core over the phase)`,
    );
    console.log(
      'gateway     req/s  p50 ms  p99 ms  CPU ms/req  CPU core  subgraph calls  subgraph CPU  errors',
    );
    console.log(
      '                                                                   /req       ms/req',
    );
    console.log(row(bestA, errorsOf(a.name)));
    console.log(row(bestB, errorsOf(b.name)));

    const ratio = bestB.rps / bestA.rps;
    const cpuRatio = bestA.cpuMsPerRequest / bestB.cpuMsPerRequest;
    const verdict = (value: number) => (value >= TARGET ? 'PASS' : 'BELOW TARGET');
    console.log(`\nratio b/a: ${ratio.toFixed(2)}  (req/s; target ≥ ${TARGET})`);
    console.log(
      `${verdict(ratio)}: with every layer on, this gateway keeps ${(ratio * 100).toFixed(0)}% of ` +
        `the plain gateway's throughput (target ${TARGET * 100}%)`,
    );
    console.log(
      `gateway CPU per request: a ${bestA.cpuMsPerRequest.toFixed(2)} ms, b ` +
        `${bestB.cpuMsPerRequest.toFixed(2)} ms (+${(bestB.cpuMsPerRequest - bestA.cpuMsPerRequest).toFixed(2)} ms); ` +
        `a/b = ${cpuRatio.toFixed(2)}, the throughput ratio when the gateway's core is the limit: ` +
        `${verdict(cpuRatio)}`,
    );
    if (bestA.cpuShare < 0.8) {
      console.log(
        `note: the plain gateway used ${(bestA.cpuShare * 100).toFixed(0)}% of a core, so req/s were ` +
          `bounded by the subgraphs or by other load on this machine, not by the gateway; the CPU ` +
          `ratio is the better measure of what the layers cost here`,
      );
    }
    const errors = errorsOf(a.name) + errorsOf(b.name);
    if (errors > 0) console.log('\nSome requests failed; see the errors column.');
    console.log(`(total ${((Date.now() - started) / 1000).toFixed(0)}s)`);
    process.exitCode = errors > 0 ? 1 : 0;
    if (cpuProfileDir) {
      writeFileSync(
        join(cpuProfileDir, 'phases.json'),
        JSON.stringify(profileWindows, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)),
      );
    }
  } finally {
    await plain?.stop();
    await ours?.stop();
    await closeRuntime();
    await Promise.all([subgraphs.stop(), load.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
