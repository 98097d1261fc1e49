/**
 * `npm run bench:allocations` — GPU allocation under a burst of concurrent requests.
 *
 * The supergraph runs in a child process (bench/supergraph-process.ts, NODE_ENV=production) on
 * embedded stores, or on PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set. This process
 * enrolls a simulated fleet of 50 nodes × 8 H100 (40 nodes with MIG on and no instances, 10 with
 * MIG off) through the agent protocol, then:
 *
 *   1. baseline: N concurrent `allocations(first: 1)` reads (gateway → resources → one query);
 *   2. load: N concurrent `allocateGpu` requests (default 1,000) with a fixed mix of profiles —
 *      45 % 1g.10gb, 20 % 2g.20gb, 15 % 3g.40gb, 5 % 7g.80gb, 15 % whole GPU.
 *
 * Prints throughput and p50/p99/max latency of both phases and their throughput ratio, the
 * outcomes (granted, NO_CAPACITY, anything else), the double bookings found by reading every
 * active allocation back (must be 0), and the fragmentation the burst left.
 *
 * Usage: [DATABASE_URL=… REDIS_URL=…] npm run bench:allocations [-- --requests=1000]
 */
import { createHttpFleetLink } from '../gpu-agent/agent/fleet-link.ts';
import { startNodeAgent, type NodeAgent } from '../gpu-agent/agent/node-agent.ts';
import { createSimulatedSource } from '../gpu-agent/simulator/index.ts';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { fleetQuery, toCapacity, type FleetAnswer } from '../subgraphs/resources/domain/fleet.ts';
import { fragmentation } from '../subgraphs/resources/domain/placement.ts';
import { percentile, signUpForBench, startSupergraphProcess } from './support.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [key = '', value = ''] = a.replace(/^--/, '').split('=');
    return [key, value];
  }),
);
const requests = Number(args.requests ?? 1000);
const NODES = 50;
const MIG_NODES = 40;
const GPUS_PER_NODE = 8;
const backend = process.env.DATABASE_URL ? 'PostgreSQL + Redis' : 'embedded (PGlite, in-process)';

/** The request mix, repeated every 20 requests so any N keeps the proportions. */
const mix = [
  ...Array<string>(9).fill('1g.10gb'),
  ...Array<string>(4).fill('2g.20gb'),
  ...Array<string>(3).fill('3g.40gb'),
  '7g.80gb',
  ...Array<string>(3).fill('GPU'),
];

interface Body<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; reason?: string } }[];
}

async function post<T>(
  url: string,
  token: string,
  query: string,
  variables = {},
): Promise<Body<T>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as Body<T>;
}

async function must<T>(url: string, token: string, query: string, variables = {}): Promise<T> {
  const body = await post<T>(url, token, query, variables);
  if (!body.data || body.errors) throw new Error(JSON.stringify(body.errors ?? body));
  return body.data;
}

function summary(latencies: number[]) {
  const sorted = Float64Array.from(latencies).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

async function burst<T>(count: number, send: (i: number) => Promise<T>) {
  const latencies: number[] = [];
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const t0 = performance.now();
      const result = await send(i);
      latencies.push(performance.now() - t0);
      return result;
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { results, seconds, perSecond: count / seconds, ...summary(latencies) };
}

async function main(): Promise<void> {
  process.stdout.write(`GPU allocation benchmark on ${backend}\n  starting the supergraph …\n`);
  const server = await startSupergraphProcess('allocations', {
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    DATABASE_SCHEMA_PREFIX: `bench${Date.now().toString(36)}_`,
    REDIS_KEY_PREFIX: `bench:${Date.now().toString(36)}:`,
  });
  const { gatewayUrl } = server;
  const agents: NodeAgent[] = [];
  try {
    const token = await signUpForBench(gatewayUrl, 'allocation bench');
    const { createApiKey } = await must<{ createApiKey: { secret: string } }>(
      gatewayUrl,
      token,
      'mutation { createApiKey(input: { name: "bench agents", role: OPERATOR }) { secret } }',
    );
    const config = loadConfig({ LOG_LEVEL: 'warn' }, { needsSecret: false });
    process.stdout.write(`  enrolling ${NODES} nodes × ${GPUS_PER_NODE} H100 …\n`);
    for (let n = 0; n < NODES; n += 1) {
      const hostname = `bench-node-${String(n).padStart(2, '0')}`;
      const source = createSimulatedSource({
        hostname,
        gpus: Array.from({ length: GPUS_PER_NODE }, () => ({
          model: 'H100-80GB' as const,
          migEnabled: n < MIG_NODES,
        })),
        autoProcesses: false,
      });
      const agent = await startNodeAgent({
        source,
        link: createHttpFleetLink({
          endpoint: server.gpuAgentUrl,
          credential: () => createApiKey.secret,
        }),
        hostname,
        logger: createLogger(config),
        intervalSeconds: 10,
      });
      await agent.report();
      agents.push(agent);
    }

    process.stdout.write(`  baseline: ${requests} concurrent allocations(first: 1) reads … `);
    const baseline = await burst(requests, () =>
      post(gatewayUrl, token, '{ allocations(first: 1) { edges { cursor } } }'),
    );
    process.stdout.write(`${baseline.perSecond.toFixed(0)}/s\n`);

    process.stdout.write(`  load: ${requests} concurrent allocateGpu requests … `);
    const load = await burst(requests, (i) =>
      post<{ allocateGpu: { id: string } }>(
        gatewayUrl,
        token,
        `mutation($i: AllocateGpuInput!) { allocateGpu(input: $i) { id } }`,
        { i: { profile: mix[i % mix.length], durationSeconds: 600 } },
      ),
    );
    process.stdout.write(`${load.perSecond.toFixed(0)}/s\n`);
    const granted = load.results.filter((r) => r.data?.allocateGpu).length;
    const noCapacity = load.results.filter(
      (r) => r.errors?.[0]?.extensions?.reason === 'NO_CAPACITY',
    ).length;
    const other = load.results.filter(
      (r) => !r.data?.allocateGpu && r.errors?.[0]?.extensions?.reason !== 'NO_CAPACITY',
    );

    // Read every active allocation back and lay it on the fleet: overlaps are double bookings.
    const capacity = new Map(
      toCapacity(await must<FleetAnswer>(gatewayUrl, token, fleetQuery)).map((gpu) => [
        gpu.gpuUuid,
        gpu,
      ]),
    );
    let after: string | null = null;
    let active = 0;
    let doubleBookings = 0;
    do {
      const page: {
        allocations: {
          edges: {
            node: { gpu: { uuid: string }; placementStart: number; placementSize: number };
          }[];
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
        };
      } = await must(
        gatewayUrl,
        token,
        `query($after: String) { allocations(first: 100, after: $after, state: ACTIVE) {
          edges { node { gpu { uuid } placementStart placementSize } }
          pageInfo { hasNextPage endCursor }
        } }`,
        { after },
      );
      for (const { node } of page.allocations.edges) {
        active += 1;
        const gpu = capacity.get(node.gpu.uuid);
        if (!gpu) continue;
        const range = { start: node.placementStart, size: node.placementSize };
        const overlaps = gpu.booked.some(
          (b) => b.start < range.start + range.size && range.start < b.start + b.size,
        );
        if (overlaps) doubleBookings += 1;
        gpu.booked.push(range);
      }
      after = page.allocations.pageInfo.hasNextPage ? page.allocations.pageInfo.endCursor : null;
    } while (after);
    const left = fragmentation([...capacity.values()]);

    process.stdout.write(
      [
        '',
        `  fleet: ${NODES} nodes × ${GPUS_PER_NODE} H100 (${MIG_NODES * GPUS_PER_NODE} with MIG on, ${(NODES - MIG_NODES) * GPUS_PER_NODE} whole)`,
        `  baseline reads:   ${baseline.perSecond.toFixed(0)}/s  p50 ${ms(baseline.p50)}  p99 ${ms(baseline.p99)}  max ${ms(baseline.max)}`,
        `  allocations:      ${load.perSecond.toFixed(0)}/s  p50 ${ms(load.p50)}  p99 ${ms(load.p99)}  max ${ms(load.max)}`,
        `  throughput ratio: ${(load.perSecond / baseline.perSecond).toFixed(3)} of the read baseline`,
        `  outcomes:         ${granted} granted, ${noCapacity} NO_CAPACITY, ${other.length} other${other.length ? ` (first: ${JSON.stringify(other[0]?.errors?.[0])})` : ''}`,
        `  read back:        ${active} active allocations, ${doubleBookings} double bookings (checked)`,
        `  left:             ${left.freeSlots} free slots, ${left.partiallyBookedGpus} partly booked GPUs, ${left.emptyGpus} empty, fragmentation ${left.fragmentation.toFixed(3)}`,
        '',
      ].join('\n'),
    );
    if (doubleBookings > 0 || active !== granted) process.exitCode = 1;
  } finally {
    for (const agent of agents) await agent.stop();
    await server.stop();
  }
}

await main();
