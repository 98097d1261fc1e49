/**
 * `npm run bench:subscriptions` — federated subscriptions under load.
 *
 * The supergraph runs in a child process (bench/supergraph-process.ts, embedded
 * stores, NODE_ENV=production). This process opens N WebSocket connections to the gateway, one
 * subscriber each — what N open dashboards are — all of one organization, each watching one of
 * 100 simulated GPU nodes:
 *
 *   subscription($node: ID) { gpuTelemetry(nodeId: $node) { sampledAt node { hostname
 *     organization { name } } gpus { uuid utilizationPercent memoryUsedMiB temperatureC powerDrawW } } }
 *
 * `organization { name }` belongs to the identity subgraph, so every event also runs a query-plan
 * fetch there. It then publishes node reports through the agent protocol at R events/s (each node
 * in turn), so each event fans out to N/100 subscribers. Printed per N:
 *   - delivery latency p50/p99/max from publication (the gpu-agent's `sampledAt`, same clock) to
 *     the client's receipt;
 *   - events lost: deliveries expected (reports × subscribers of that node) minus received;
 *   - growth of the supergraph process's RSS and JS heap per connection, each read after a full
 *     garbage collection, before connecting and with every subscriber connected.
 *
 * Usage: npm run bench:subscriptions [-- --subscribers=1000,5000,10000 --rate=100 --seconds=20
 *          --stream=node|org]   (`org`: every subscriber watches the whole organization, so
 *          every event goes to all N — a harsher fan-out than dashboards of single nodes)
 * Target (issue 4): 5,000 subscribers, p99 < 250 ms at 100 events/s, 0 lost.
 */
import type { ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { createHttpFleetLink, type FleetLink } from '../gpu-agent/agent/fleet-link.ts';
import { simulatedFleet } from '../gpu-agent/simulator/index.ts';
import { percentile, signUpForBench, startSupergraphProcess } from './support.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [key = '', value = ''] = a.replace(/^--/, '').split('=');
    return [key, value];
  }),
);
const subscriberCounts = (args.subscribers ?? '1000,5000,10000').split(',').map(Number);
const eventsPerSecond = Number(args.rate ?? 100);
const seconds = Number(args.seconds ?? 20);
const nodeCount = 100;
/** `node`: each subscriber watches one node (N/100 per event); `org`: every subscriber gets every event. */
const stream = args.stream === 'org' ? 'org' : 'node';
const target = { subscribers: 5_000, p99Ms: 250 };

const subscription = /* GraphQL */ `
  subscription Dashboard($node: ID) {
    gpuTelemetry(nodeId: $node) {
      sampledAt
      node {
        hostname
        organization {
          name
        }
      }
      gpus {
        uuid
        utilizationPercent
        memoryUsedMiB
        temperatureC
        powerDrawW
      }
    }
  }
`;

interface Subscriber {
  socket: WebSocket;
  node: number;
  received: number;
  errors: number;
}

interface Result {
  subscribers: number;
  published: number;
  expected: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  rssPerConnectionKiB: number;
  heapPerConnectionKiB: number;
  connectSeconds: number;
}

/** The supergraph process's memory right after a full garbage collection. */
function memoryOf(child: ChildProcess): Promise<NodeJS.MemoryUsage> {
  return new Promise((resolve) => {
    child.once('message', (usage) => resolve(usage as NodeJS.MemoryUsage));
    child.send('memory');
  });
}

/** Opens one subscriber: connection_init with the token, then the dashboard subscription. */
function connect(
  url: string,
  token: string,
  nodeId: string,
  node: number,
  latencies: number[],
): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
    const subscriber: Subscriber = { socket, node, received: 0, errors: 0 };
    socket.on('open', () =>
      socket.send(
        JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }),
      ),
    );
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as {
        type: string;
        payload?: { data?: { gpuTelemetry?: { sampledAt: string } }; errors?: unknown };
      };
      if (message.type === 'connection_ack') {
        socket.send(
          JSON.stringify({
            id: '1',
            type: 'subscribe',
            payload: {
              query: subscription,
              variables: stream === 'node' ? { node: nodeId } : {},
            },
          }),
        );
        // The gateway has the subscription once its pipeline ran; a short pause per batch
        // (below) lets it finish before events start.
        resolve(subscriber);
      } else if (message.type === 'next') {
        const sampledAt = message.payload?.data?.gpuTelemetry?.sampledAt;
        if (!sampledAt || message.payload?.errors) {
          subscriber.errors++;
          return;
        }
        subscriber.received++;
        latencies.push(Date.now() - Date.parse(sampledAt));
      } else if (message.type === 'error') {
        subscriber.errors++;
      }
    });
    socket.once('error', reject);
    socket.once('close', (code, reason) => {
      if (code !== 1000 && code !== 1001 && code !== 1005)
        process.stdout.write(`\n  subscriber closed: ${code} ${reason.toString()}\n`);
    });
  });
}

async function runScenario(
  server: { child: ChildProcess; gatewayUrl: string },
  token: string,
  link: FleetLink,
  fleet: ReturnType<typeof simulatedFleet>,
  nodeIds: string[],
  count: number,
): Promise<Result> {
  const wsUrl = `${server.gatewayUrl.replace(/^http/, 'ws')}/graphql`;
  const latencies: number[] = [];
  const before = await memoryOf(server.child);
  process.stdout.write(`\n  ${count} subscribers: booted; connecting `);
  const started = Date.now();
  const subscribers: Subscriber[] = [];
  for (let i = 0; i < count; i += 200) {
    const batch = Array.from({ length: Math.min(200, count - i) }, (_, j) => {
      const node = (i + j) % nodeCount;
      return connect(wsUrl, token, nodeIds[node]!, node, latencies);
    });
    subscribers.push(...(await Promise.all(batch)));
    if ((i / 200) % 5 === 0) process.stdout.write('.');
  }
  const connectSeconds = (Date.now() - started) / 1000;
  // Let the last subscriptions clear the gateway's pipeline before the first event.
  await new Promise((r) => setTimeout(r, 2_000));
  process.stdout.write(
    ` ${connectSeconds.toFixed(1)} s; publishing ${eventsPerSecond}/s for ${seconds} s `,
  );

  const published = new Array<number>(nodeCount).fill(0);
  const total = eventsPerSecond * seconds;
  const inFlight = new Set<Promise<void>>();
  const t0 = Date.now();
  for (let k = 0; k < total; k++) {
    const due = t0 + (k * 1000) / eventsPerSecond;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const node = k % nodeCount;
    const publish = (async () => {
      await link.publishSnapshot(nodeIds[node]!, await fleet[node]!.collect());
      published[node]!++;
    })();
    inFlight.add(publish);
    void publish.finally(() => inFlight.delete(publish));
    if (k % (eventsPerSecond * 5) === 0) process.stdout.write('.');
  }
  await Promise.all(inFlight);
  await new Promise((r) => setTimeout(r, 3_000));
  const after = await memoryOf(server.child);

  const publishedTotal = published.reduce((a, b) => a + b, 0);
  const expected = subscribers.reduce(
    (sum, s) => sum + (stream === 'node' ? (published[s.node] ?? 0) : publishedTotal),
    0,
  );
  const received = subscribers.reduce((sum, s) => sum + s.received, 0);
  const errors = subscribers.reduce((sum, s) => sum + s.errors, 0);
  if (errors > 0) process.stdout.write(`\n  ${errors} error messages received\n`);
  for (const s of subscribers) s.socket.close(1000);
  await new Promise((r) => setTimeout(r, 1_000));
  const sorted = Float64Array.from(latencies).sort();
  process.stdout.write(' done\n');
  return {
    subscribers: count,
    published: publishedTotal,
    expected,
    received,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    rssPerConnectionKiB: (after.rss - before.rss) / 1024 / count,
    heapPerConnectionKiB: (after.heapUsed - before.heapUsed) / 1024 / count,
    connectSeconds,
  };
}

/** One scenario on a freshly booted supergraph, so RSS growth is this scenario's alone. */
async function measure(count: number): Promise<Result> {
  const server = await startSupergraphProcess('subs');
  try {
    const token = await signUpForBench(server.gatewayUrl, 'Bench dashboards');
    const fleet = simulatedFleet(nodeCount, { autoProcesses: false });
    const link = createHttpFleetLink({ endpoint: server.gpuAgentUrl, credential: () => token });
    const nodeIds = await Promise.all(
      fleet.map(async (node) => (await link.enroll(node.hostname)).nodeId),
    );
    await Promise.all(
      fleet.map(async (node, i) => link.publishSnapshot(nodeIds[i]!, await node.collect())),
    );
    return await runScenario(server, token, link, fleet, nodeIds, count);
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `subscriptions benchmark: ${nodeCount} nodes, ${eventsPerSecond} events/s, ` +
      `${stream === 'node' ? 'each subscriber watching one node' : 'every subscriber watching the whole organization'}, ` +
      `subscribers ${subscriberCounts.join(', ')} (a fresh supergraph process for each)\n`,
  );
  const results: Result[] = [];
  for (const count of subscriberCounts) results.push(await measure(count));

  process.stdout.write(
    '\n  subscribers  published  deliveries/s   p50 ms   p99 ms   max ms   lost   RSS/conn KiB   heap/conn KiB   connect s\n',
  );
  for (const r of results) {
    process.stdout.write(
      `  ${String(r.subscribers).padStart(11)} ${String(r.published).padStart(10)} ${(r.expected / seconds).toFixed(0).padStart(13)} ${String(r.p50).padStart(8)} ${String(r.p99).padStart(8)} ${String(r.max).padStart(8)} ${String(r.expected - r.received).padStart(6)} ${r.rssPerConnectionKiB.toFixed(1).padStart(14)} ${r.heapPerConnectionKiB.toFixed(1).padStart(15)} ${r.connectSeconds.toFixed(1).padStart(11)}\n`,
    );
  }
  const measured = results.find((r) => r.subscribers === target.subscribers);
  if (measured && stream === 'node' && eventsPerSecond === 100) {
    const met = measured.p99 < target.p99Ms && measured.expected === measured.received;
    process.stdout.write(
      `\n  target: ${target.subscribers} subscribers, p99 < ${target.p99Ms} ms at 100 events/s, 0 lost: ${met ? 'met' : 'MISSED'} (p99 ${measured.p99} ms, ${measured.expected - measured.received} lost)\n`,
    );
    if (!met) process.exitCode = 1;
  }
  if (results.some((r) => r.expected !== r.received)) process.exitCode = 1;
}

await main();
