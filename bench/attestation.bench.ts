/**
 * `npm run bench:attestation` — hardware attestation end to end, under a sustained load.
 *
 * The supergraph runs in a child process (bench/supergraph-process.ts, NODE_ENV=production) on
 * embedded stores, or on PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set (they are
 * passed through). One simulated node of 8 H100s with CC on reports through the agent protocol.
 * This process subscribes to `hardwareAttestationUpdated` over graphql-ws and then:
 *
 *   1. baseline: `requestAttestationChallenge` round trips (gateway → attestation subgraph →
 *      gpu-agent → one insert), closed loop, for the same seconds;
 *   2. load: submits `submitHardwareAttestation` open-loop at R per second for S seconds, the
 *      server reading each GPU's evidence from the gpu-agent, and times each from the submit to
 *      the subscriber's receipt of its final status (appraised, EAR signed, report stored,
 *      outbox published, gateway-resolved event delivered).
 *
 * Prints attestations completed per second over the load window, p50/p99/max latency, the number
 * lost (submitted but no final event within 30 s of the end) and the latency ratio against the
 * baseline round trip.
 *
 * Usage: [DATABASE_URL=… REDIS_URL=…] npm run bench:attestation [-- --rate=200 --seconds=20]
 * Target (issue 6, on PostgreSQL): ≥ 200 attestations/s sustained, p99 < 500 ms, 0 lost.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createHttpFleetLink } from '../gpu-agent/agent/fleet-link.ts';
import { startNodeAgent } from '../gpu-agent/agent/node-agent.ts';
import { createSimulatedSource } from '../gpu-agent/simulator/index.ts';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { percentile, signUpForBench, startSupergraphProcess } from './support.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [key = '', value = ''] = a.replace(/^--/, '').split('=');
    return [key, value];
  }),
);
const rate = Number(args.rate ?? 200);
const seconds = Number(args.seconds ?? 20);
const target = { rate: 200, p99Ms: 500 };
const backend = process.env.DATABASE_URL ? 'PostgreSQL + Redis' : 'embedded (PGlite, in-process)';

async function graphql<T>(url: string, token: string, query: string, variables = {}): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (!body.data || body.errors) throw new Error(JSON.stringify(body.errors ?? body));
  return body.data;
}

function summary(latencies: number[]): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(latencies).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

async function main(): Promise<void> {
  process.stdout.write(
    `Hardware attestation benchmark on ${backend}\n  starting the supergraph …\n`,
  );
  const server = await startSupergraphProcess('attestation', {
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    DATABASE_SCHEMA_PREFIX: `bench${Date.now().toString(36)}_`,
    REDIS_KEY_PREFIX: `bench:${Date.now().toString(36)}:`,
    ATTESTATION_WORKERS: args.workers ?? '16',
    REATTESTATION_INTERVAL_HOURS: '0',
  });
  const { gatewayUrl } = server;
  try {
    const token = await signUpForBench(gatewayUrl, 'attestation bench');
    const { createApiKey } = await graphql<{ createApiKey: { secret: string } }>(
      gatewayUrl,
      token,
      'mutation { createApiKey(input: { name: "bench agent", role: OPERATOR }) { secret } }',
    );
    const source = createSimulatedSource({
      hostname: 'bench-h100',
      gpus: Array.from({ length: 8 }, () => ({
        model: 'H100-80GB' as const,
        migEnabled: false,
        confidentialComputeMode: 'ON' as const,
      })),
      autoProcesses: false,
    });
    const config = loadConfig({ LOG_LEVEL: 'warn' }, { needsSecret: false });
    const agent = await startNodeAgent({
      source,
      link: createHttpFleetLink({
        endpoint: server.gpuAgentUrl,
        credential: () => createApiKey.secret,
      }),
      hostname: 'bench-h100',
      logger: createLogger(config),
      intervalSeconds: 5,
    });
    await agent.report();
    const gpus = source.gpuUuids;

    // The subscriber: final statuses by attestation id, with the time they arrived.
    const finals = new Map<string, { status: string; at: number }>();
    const client = createClient({
      url: `${gatewayUrl.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ hardwareAttestationUpdated: { id: string; status: string } }>(
        { query: 'subscription { hardwareAttestationUpdated { id status } }' },
        {
          next: (result) => {
            const update = result.data?.hardwareAttestationUpdated;
            if (update && ['VERIFIED', 'FAILED', 'ERROR'].includes(update.status))
              finals.set(update.id, { status: update.status, at: performance.now() });
          },
          error: reject,
          complete: () => undefined,
        },
      );
      client.on('connected', () => setTimeout(resolve, 300));
    });

    // 1. Baseline: challenge round trips, 8 at a time.
    process.stdout.write(`  baseline: requestAttestationChallenge for ${seconds}s … `);
    const baseline: number[] = [];
    const baselineEnd = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        while (performance.now() < baselineEnd) {
          const started = performance.now();
          await graphql(
            gatewayUrl,
            token,
            'mutation($g: ID!) { requestAttestationChallenge(gpuUuid: $g) { nonce } }',
            { g: gpus[worker % gpus.length] },
          );
          baseline.push(performance.now() - started);
        }
      }),
    );
    const base = summary(baseline);
    process.stdout.write(
      `${(baseline.length / seconds).toFixed(0)}/s, p50 ${base.p50.toFixed(1)} ms, p99 ${base.p99.toFixed(1)} ms\n`,
    );

    // 2. Open-loop load: one submission every 1/rate s, whatever the answers' pace.
    process.stdout.write(`  load: ${rate} submissions/s for ${seconds}s … `);
    const submittedAt = new Map<string, number>();
    const inflight: Promise<void>[] = [];
    let submitErrors = 0;
    const start = performance.now();
    const total = Math.round(rate * seconds);
    for (let i = 0; i < total; i += 1) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const sent = performance.now();
      inflight.push(
        graphql<{ submitHardwareAttestation: { id: string } }>(
          gatewayUrl,
          token,
          'mutation($i: SubmitHardwareAttestationInput!) { submitHardwareAttestation(input: $i) { id } }',
          { i: { gpuUuid: gpus[i % gpus.length] } },
        ).then(
          (data) => void submittedAt.set(data.submitHardwareAttestation.id, sent),
          (error: unknown) => {
            if (submitErrors === 0) process.stdout.write(`\n  first refusal: ${String(error)}\n`);
            submitErrors += 1;
          },
        ),
      );
      if (i % rate === 0) process.stdout.write('.');
    }
    await Promise.all(inflight);
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline && [...submittedAt.keys()].some((id) => !finals.has(id)))
      await new Promise((resolve) => setTimeout(resolve, 100));
    const latencies: number[] = [];
    let lastFinal = start;
    const statuses: Record<string, number> = {};
    for (const [id, sent] of submittedAt) {
      const final = finals.get(id);
      if (!final) continue;
      latencies.push(final.at - sent);
      lastFinal = Math.max(lastFinal, final.at);
      statuses[final.status] = (statuses[final.status] ?? 0) + 1;
    }
    const lost = submittedAt.size - latencies.length;
    const throughput = latencies.length / ((lastFinal - start) / 1000);
    const load = summary(latencies);
    process.stdout.write(' done\n\n');
    const rows = [
      ['backend', backend],
      ['submitted', `${submittedAt.size} (+${submitErrors} refused)`],
      ['final statuses', JSON.stringify(statuses)],
      ['completed per second', throughput.toFixed(1)],
      [
        'latency submit → final event',
        `p50 ${load.p50.toFixed(0)} ms, p99 ${load.p99.toFixed(0)} ms, max ${load.max.toFixed(0)} ms`,
      ],
      ['lost (no final event)', String(lost)],
      [
        'baseline challenge round trip',
        `p50 ${base.p50.toFixed(1)} ms, p99 ${base.p99.toFixed(1)} ms`,
      ],
      ['ratio p50 / baseline p50', `${(load.p50 / base.p50).toFixed(1)}×`],
    ];
    for (const [label = '', value = ''] of rows)
      process.stdout.write(`  ${label.padEnd(32)} ${value}\n`);
    const met =
      throughput >= target.rate * 0.98 &&
      load.p99 < target.p99Ms &&
      lost === 0 &&
      submitErrors === 0;
    process.stdout.write(
      `\n  target (≥ ${target.rate}/s, p99 < ${target.p99Ms} ms, 0 lost${process.env.DATABASE_URL ? '' : '; the target is set for PostgreSQL'}): ${met ? 'met' : 'NOT met'}\n`,
    );
    await client.dispose();
    await agent.stop();
  } finally {
    await server.stop();
  }
}

await main();
