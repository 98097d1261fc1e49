import type { Client } from 'graphql-ws';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGpuAgent } from '../../gpu-agent/subgraph/index.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import {
  collect,
  metricValue,
  rawConnection,
  subscriptionClient,
  type Collected,
} from '../support/subscriptions.ts';
import {
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

// A type alias (not an interface) so it satisfies the client's Record constraint.
type Telemetry = {
  gpuTelemetry: {
    sampledAt: string;
    node: { id: string; hostname: string; organization: { id: string; name: string } };
    gpus: {
      uuid: string;
      name: string;
      utilizationPercent: number | null;
      memoryUsedMiB: number | null;
      temperatureC: number | null;
      powerDrawW: number | null;
      migMode: { current: boolean };
      migInstances: { gpuInstanceId: number; profile: string; memoryUsedMiB: number | null }[];
    }[];
  };
};

// `organization { name }` is owned by the identity subgraph: the gateway resolves it per event.
const telemetrySubscription = /* GraphQL */ `
  subscription Telemetry($nodeId: ID) {
    gpuTelemetry(nodeId: $nodeId) {
      sampledAt
      node {
        id
        hostname
        organization {
          id
          name
        }
      }
      gpus {
        uuid
        name
        utilizationPercent
        memoryUsedMiB
        temperatureC
        powerDrawW
        migMode {
          current
        }
        migInstances {
          gpuInstanceId
          profile
          memoryUsedMiB
        }
      }
    }
  }
`;

let supergraph: TestSupergraph;
let tenantA: SignedUp;
let tenantB: SignedUp;
let viewerKeyA: string;
let node: SimulatedNode;
const clients: Client[] = [];
let stopped = false;

function client(credential: string): Client {
  const created = subscriptionClient(supergraph.baseUrl, credential);
  clients.push(created);
  return created;
}

const metric = (name: string, labels = '') => metricValue(supergraph.baseUrl, name, labels);

beforeAll(async () => {
  supergraph = await startTestSupergraph({ RATE_LIMIT_FREE: '100000' });
  [tenantA, tenantB] = await Promise.all([
    signUp(supergraph, 'telemetry-a'),
    signUp(supergraph, 'telemetry-b'),
  ]);
  const operatorKey = await createApiKey(supergraph, tenantA.accessToken, 'OPERATOR');
  viewerKeyA = await createApiKey(supergraph, tenantA.accessToken, 'VIEWER');
  node = await enrollSimulatedNode(
    supergraph,
    operatorKey,
    'dgx-telemetry-01',
    [
      { model: 'H100-80GB', migEnabled: true },
      { model: 'A100-80GB', migEnabled: false },
    ],
    { intervalSeconds: 1 },
  );
});
afterAll(async () => {
  for (const c of clients) await c.dispose();
  await node?.agent.stop();
  if (!stopped) await supergraph?.stop();
});

describe('gpuTelemetry through the gateway over graphql-ws', () => {
  let nodeId: string;

  it('streams each report of the node with fields of two subgraphs filled in', async () => {
    const subscription = collect<Telemetry>(client(tenantA.accessToken), telemetrySubscription);
    const [first, second] = await subscription.waitFor(2);
    subscription.stop();
    expect(first?.errors).toBeUndefined();
    const event = first?.data?.gpuTelemetry;
    nodeId = event?.node.id ?? '';
    expect(event?.node.hostname).toBe('dgx-telemetry-01');
    // From the identity subgraph, resolved by the gateway for this event:
    expect(event?.node.organization).toEqual({
      id: tenantA.organization.id,
      name: tenantA.organization.name,
    });
    expect(event?.gpus.map((g) => [g.uuid, g.name])).toEqual([
      [node.source.gpuUuids[0], 'NVIDIA H100 80GB HBM3'],
      [node.source.gpuUuids[1], 'NVIDIA A100-SXM4-80GB'],
    ]);
    const a100 = event?.gpus[1];
    expect(a100?.utilizationPercent).toBeGreaterThanOrEqual(0);
    expect(a100?.temperatureC).toBeGreaterThan(20);
    expect(a100?.powerDrawW).toBeGreaterThan(0);
    expect(event?.gpus[0]?.migMode.current).toBe(true);
    // Reports arrive in order, each one newer than the last.
    expect(Date.parse(second?.data?.gpuTelemetry.sampledAt ?? '')).toBeGreaterThan(
      Date.parse(event?.sampledAt ?? ''),
    );
  });

  it('accepts an API key in connection_init and filters by nodeId', async () => {
    const subscription = collect<Telemetry>(client(viewerKeyA), telemetrySubscription, {
      nodeId,
    });
    const [result] = await subscription.waitFor(1);
    subscription.stop();
    expect(result?.data?.gpuTelemetry.node.id).toBe(nodeId);
  });

  it('never delivers one organization’s telemetry to another', async () => {
    const other = collect<Telemetry>(client(tenantB.accessToken), telemetrySubscription);
    const own = collect<Telemetry>(client(tenantA.accessToken), telemetrySubscription);
    await own.waitFor(3);
    expect(other.results).toEqual([]);
    other.stop();
    own.stop();

    // Naming the other tenant's node does not help: the gpu-agent refuses it as unknown.
    const named = collect<Telemetry>(client(tenantB.accessToken), telemetrySubscription, {
      nodeId,
    });
    const [refused] = await named.waitFor(1);
    expect(refused?.data ?? null).toBeNull();
    expect(refused?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await named.ended).completed).toBe(true);
    // Asking again gets the same answer (a fresh upstream subscription, not the ended one).
    const again = collect<Telemetry>(client(tenantB.accessToken), telemetrySubscription, {
      nodeId,
    });
    expect((await again.waitFor(1))[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await again.ended).completed).toBe(true);
  });

  it('serves identical subscriptions of one organization from one upstream stream', async () => {
    const subscribers: Collected<Telemetry>[] = [];
    for (let i = 0; i < 5; i++) {
      subscribers.push(collect<Telemetry>(client(tenantA.accessToken), telemetrySubscription));
    }
    await Promise.all(subscribers.map((s) => s.waitFor(1)));
    expect(await metric('lotabots_subscriptions_active', 'kind="subscriber"')).toBe(5);
    expect(await metric('lotabots_subscriptions_active', 'kind="group"')).toBe(1);
    // Every subscriber sees the reports in order, each newer than the last.
    await Promise.all(subscribers.map((s) => s.waitFor(3)));
    for (const s of subscribers) {
      const stamps = s.results.map((r) => Date.parse(r.data?.gpuTelemetry.sampledAt ?? ''));
      expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
      expect(new Set(stamps).size).toBe(stamps.length);
    }
    for (const s of subscribers) s.stop();
  });

  it('refuses a connection without credentials (4401) or with a bad token (4403)', async () => {
    const none = await rawConnection(supergraph.baseUrl, {});
    expect((await none.closed).code).toBe(4401);

    const forged = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${tenantA.accessToken.slice(0, -4)}AAAA`,
    });
    const closed = await forged.closed;
    expect(closed.code).toBe(4403);
    expect(closed.reason).toMatch(/^Forbidden: /);

    const garbage = await rawConnection(supergraph.baseUrl, { authorization: 'Bearer lb_nope' });
    expect((await garbage.closed).code).toBe(4403);
    expect(await metric('lotabots_subscription_connections_refused_total', 'code="4403"')).toBe(2);
  });

  it('takes the Authorization header of the upgrade request from clients that can send one', async () => {
    const raw = await rawConnection(supergraph.baseUrl, undefined, {
      authorization: `Bearer ${viewerKeyA}`,
    });
    await raw.next('connection_ack');
    raw.send({ id: '1', type: 'subscribe', payload: { query: telemetrySubscription } });
    const event = (await raw.next('next')).payload as { data?: Telemetry };
    expect(event.data?.gpuTelemetry.node.organization.id).toBe(tenantA.organization.id);
    raw.socket.close();
  });

  it('answers an invalid subscription with a GraphQL error and keeps the connection', async () => {
    const raw = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${tenantA.accessToken}`,
    });
    await raw.next('connection_ack');
    raw.send({ id: '1', type: 'subscribe', payload: { query: 'subscription { nope }' } });
    const invalid = (await raw.next('error')).payload as { message: string }[];
    expect(invalid[0]?.message).toMatch(/Cannot query field "nope"/);
    raw.send({ id: '2', type: 'subscribe', payload: { query: 'subscription {' } });
    const syntax = (await raw.next('error')).payload as { message: string }[];
    expect(syntax[0]?.message).toMatch(/Syntax Error/);
    // A query over the socket is answered once, then completed.
    raw.send({ id: '3', type: 'subscribe', payload: { query: '{ me { email } }' } });
    const answer = await raw.next('next');
    expect(answer.payload).toEqual({ data: { me: { email: tenantA.email } } });
    await raw.next('complete');
    raw.socket.close();
  });

  it('closes on garbage, oversized or out-of-order messages without touching other connections', async () => {
    const bystander = collect<Telemetry>(client(tenantA.accessToken), telemetrySubscription);
    await bystander.waitFor(1);

    const garbage = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${tenantA.accessToken}`,
    });
    await garbage.next('connection_ack');
    garbage.socket.send('{"type": "subscribe", "id": ');
    expect((await garbage.closed).code).toBe(4400);

    const early = await rawConnection(supergraph.baseUrl, undefined);
    // connection_init without a payload carries no credentials.
    expect((await early.closed).code).toBe(4401);

    const huge = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${tenantA.accessToken}`,
    });
    await huge.next('connection_ack');
    const padding = 'x'.repeat(supergraph.runtime.config.MAX_BODY_BYTES + 1);
    huge.send({ id: '1', type: 'subscribe', payload: { query: `# ${padding}\n{ __typename }` } });
    // 1009: message too big, refused before it is buffered whole.
    expect((await huge.closed).code).toBe(1009);

    const before = bystander.results.length;
    await bystander.waitFor(before + 1);
    bystander.stop();
  });

  it('runs automatic persisted queries over the socket, as over HTTP', async () => {
    const query = 'subscription { gpuTelemetry { sampledAt } }';
    const persistedQuery = {
      version: 1,
      sha256Hash: createHash('sha256').update(query).digest('hex'),
    };
    const raw = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${tenantA.accessToken}`,
    });
    await raw.next('connection_ack');
    // graphql-ws requires a query string; an empty one stands for "by hash only".
    raw.send({
      id: '1',
      type: 'subscribe',
      payload: { query: '', extensions: { persistedQuery } },
    });
    const unknown = (await raw.next('error')).payload as { extensions?: { code?: string } }[];
    expect(unknown[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    raw.send({ id: '2', type: 'subscribe', payload: { query, extensions: { persistedQuery } } });
    await raw.next('next');
    raw.send({ id: '2', type: 'complete' });
    raw.send({
      id: '3',
      type: 'subscribe',
      payload: { query: '', extensions: { persistedQuery } },
    });
    const byHash = (await raw.next('next')) as {
      id?: string;
      payload?: { data?: { gpuTelemetry?: { sampledAt?: unknown } } };
    };
    expect(byHash.id).toBe('3');
    expect(typeof byHash.payload?.data?.gpuTelemetry?.sampledAt).toBe('string');
    raw.socket.close();
  });

  it('refuses subscriptions over HTTP with a pointer to WebSocket', async () => {
    const result = await supergraph.graphql(telemetrySubscription, {}, tenantA.accessToken);
    expect(result.errors?.[0]?.message).toMatch(/WebSocket/);
  });

  it('keeps a subscription streaming across a restart of the gpu-agent subgraph', async () => {
    const subscription = collect<Telemetry>(client(tenantA.accessToken), telemetrySubscription);
    await subscription.waitFor(1);
    const index = supergraph.subgraphs.findIndex((s) => s.name === 'gpu-agent');
    const previous = supergraph.subgraphs[index]!;
    await previous.stop();
    // Same port, as a restarted pod behind its Service; supergraph.stop() stops the new one.
    supergraph.subgraphs[index] = await startGpuAgent(
      supergraph.runtime,
      { host: '127.0.0.1', port: previous.port },
      { identityUrl: supergraph.identity.url },
    );
    const before = subscription.results.length;
    // The gateway reconnects to the subgraph and subscribes again; the node agent reports again.
    const after = await subscription.waitFor(before + 2, 30_000);
    expect(after.at(-1)?.data?.gpuTelemetry.node.id).toBe(nodeId);
    expect(after.at(-1)?.errors).toBeUndefined();
    subscription.stop();
  });

  it('completes open subscriptions when the gateway shuts down', async () => {
    const subscription = collect<Telemetry>(client(tenantA.accessToken), telemetrySubscription);
    await subscription.waitFor(1);
    await node.agent.stop();
    await supergraph.stop();
    stopped = true;
    expect(await subscription.ended).toEqual({ completed: true });
  });
});
