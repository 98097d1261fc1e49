import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import {
  collect,
  metricValue,
  rawConnection,
  subscriptionClient,
} from '../support/subscriptions.ts';
import {
  authPayloadFields,
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

// Short-lived access tokens (3 s) to see expiry happen, and a small slow-consumer limit.
const TOKEN_TTL_SECONDS = 3;
const QUEUE_LIMIT = 8;

/** A large selection: every event is a few kilobytes, so an unread socket fills up quickly. */
const heavySubscription = /* GraphQL */ `
  subscription {
    gpuTelemetry {
      sampledAt
      gpus {
        uuid
        name
        serial
        pciBusId
        memoryTotalMiB
        memoryUsedMiB
        utilizationPercent
        temperatureC
        powerDrawW
        powerLimitW
        clocks {
          graphicsMHz
          smMHz
          memoryMHz
        }
        migProfiles {
          name
          id
          instancesFree
          instancesTotal
          memoryMiB
          multiprocessors
        }
        migInstances {
          gpuInstanceId
          computeInstanceId
          profile
          memoryMiB
          memoryUsedMiB
          uuid
        }
      }
    }
  }
`;
const lightSubscription = 'subscription { gpuTelemetry { sampledAt } }';

let supergraph: TestSupergraph;
let owner: SignedUp;
let viewerKey: string;
let node: SimulatedNode;

beforeAll(async () => {
  supergraph = await startTestSupergraph({
    RATE_LIMIT_FREE: '1000000',
    ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS),
    SUBSCRIPTION_QUEUE_LIMIT: String(QUEUE_LIMIT),
  });
  owner = await signUp(supergraph, 'ws-lifecycle');
  const operatorKey = await createApiKey(supergraph, owner.accessToken, 'OPERATOR');
  viewerKey = await createApiKey(supergraph, owner.accessToken, 'VIEWER');
  node = await enrollSimulatedNode(
    supergraph,
    operatorKey,
    'dgx-lifecycle-01',
    Array.from({ length: 8 }, () => ({ model: 'H100-80GB' as const, migEnabled: true })),
    { intervalSeconds: 1 },
  );
});
afterAll(async () => {
  await node?.agent.stop();
  await supergraph?.stop();
});

const metric = (name: string, labels = '') => metricValue(supergraph.baseUrl, name, labels);

async function freshSession(): Promise<{ accessToken: string; refreshToken: string }> {
  const result = await supergraph.graphql<{
    login: { accessToken: string; refreshToken: string };
  }>(
    `mutation($input: LoginInput!) { login(input: $input) { ...AuthPayloadFields } } ${authPayloadFields}`,
    { input: { email: owner.email, password: owner.password } },
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.login;
}

describe('WebSocket connection lifecycle', () => {
  it('closes with 4403 once the access token expires', async () => {
    const session = await freshSession();
    const started = Date.now();
    const raw = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${session.accessToken}`,
    });
    await raw.next('connection_ack');
    raw.send({ id: '1', type: 'subscribe', payload: { query: lightSubscription } });
    await raw.next('next');
    const closed = await raw.closed;
    expect(closed).toEqual({
      code: 4403,
      reason: 'Forbidden: access token expired; reconnect with a fresh token',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual((TOKEN_TTL_SECONDS - 1) * 1000);
  });

  it('keeps subscriptions open when the client sends a fresh token in a ping', async () => {
    let session = await freshSession();
    const raw = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${session.accessToken}`,
    });
    await raw.next('connection_ack');
    raw.send({ id: '1', type: 'subscribe', payload: { query: lightSubscription } });
    // Three token lifetimes, refreshing halfway through each.
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, (TOKEN_TTL_SECONDS * 1000) / 2));
      const refreshed = await supergraph.graphql<{
        refreshToken: { accessToken: string; refreshToken: string };
      }>(
        `mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { accessToken refreshToken } }`,
        { input: { refreshToken: session.refreshToken } },
      );
      if (!refreshed.data) throw new Error(JSON.stringify(refreshed.errors));
      session = refreshed.data.refreshToken;
      raw.send({ type: 'ping', payload: { authorization: `Bearer ${session.accessToken}` } });
    }
    const before = raw.messages.filter((m) => m.type === 'next').length;
    await raw.next('next');
    expect(raw.socket.readyState).toBe(raw.socket.OPEN);
    expect(before).toBeGreaterThanOrEqual(TOKEN_TTL_SECONDS * 2);
    // A token of another organization may not take the connection over.
    const stranger = await signUp(supergraph, 'ws-stranger');
    raw.send({ type: 'ping', payload: { authorization: `Bearer ${stranger.accessToken}` } });
    expect((await raw.closed).code).toBe(4403);
  });

  it('renews API-key connections past the lifetime of the exchanged token', async () => {
    const client = subscriptionClient(supergraph.baseUrl, viewerKey);
    const subscription = collect(client, lightSubscription);
    await new Promise((resolve) => setTimeout(resolve, (TOKEN_TTL_SECONDS + 2) * 1000));
    const count = subscription.results.length;
    await subscription.waitFor(count + 1);
    subscription.stop();
    await client.dispose();
  });

  it('closes an API-key connection as soon as the key is revoked', async () => {
    const admin = await freshSession();
    const created = await supergraph.graphql<{
      createApiKey: { secret: string; apiKey: { id: string } };
    }>(
      'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }',
      { i: { name: 'dashboard kiosk', role: 'VIEWER' } },
      admin.accessToken,
    );
    if (!created.data) throw new Error(JSON.stringify(created.errors));
    const raw = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${created.data.createApiKey.secret}`,
    });
    await raw.next('connection_ack');
    raw.send({ id: '1', type: 'subscribe', payload: { query: lightSubscription } });
    await raw.next('next');
    const started = Date.now();
    const revoked = await supergraph.graphql(
      'mutation($id: ID!) { revokeApiKey(id: $id) { id } }',
      { id: created.data.createApiKey.apiKey.id },
      admin.accessToken,
    );
    expect(revoked.errors).toBeUndefined();
    // Well before the exchanged token (3 s here, minutes in production) would have expired.
    expect(await raw.closed).toEqual({ code: 4403, reason: 'Forbidden: API key revoked' });
    expect(Date.now() - started).toBeLessThan(TOKEN_TTL_SECONDS * 1000);
    // And the key no longer opens connections.
    const again = await rawConnection(supergraph.baseUrl, {
      authorization: `Bearer ${created.data.createApiKey.secret}`,
    });
    expect((await again.closed).code).toBe(4403);
  });

  it('closes a consumer that stops reading (4008) while others keep every event', async () => {
    const fast = subscriptionClient(supergraph.baseUrl, viewerKey);
    const fastEvents = collect(fast, heavySubscription);
    const slow = await rawConnection(supergraph.baseUrl, { authorization: `Bearer ${viewerKey}` });
    await slow.next('connection_ack');
    slow.send({ id: 'slow', type: 'subscribe', payload: { query: heavySubscription } });
    await slow.next('next');
    await fastEvents.waitFor(1);
    const fastBefore = fastEvents.results.length;
    // Stop reading: the gateway's writes back up, then its per-subscriber queue fills.
    (slow.socket as unknown as { _socket: { pause: () => void } })._socket.pause();

    let reports = 0;
    while ((await metric('lotabots_subscription_slow_consumers_total', 'policy="close"')) < 1) {
      if (reports >= 3_000) throw new Error('the slow consumer was never closed');
      await node.agent.report();
      reports++;
    }
    (slow.socket as unknown as { _socket: { resume: () => void } })._socket.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(4008);
    const pending = Number(/^Slow consumer: (\d+) events pending/.exec(closed.reason)?.[1]);
    expect(pending).toBeGreaterThan(0);
    // The reading subscriber on the same stream lost nothing…
    await fastEvents.waitFor(fastBefore + reports, 30_000);
    expect(fastEvents.results.every((r) => r.errors === undefined)).toBe(true);
    // …while the pending events were dropped with the slow one, not buffered for it. (The node
    // agent also reports on its own interval, so the stream holds more than `reports` events;
    // the reading subscriber saw all of them, and at most one before the slow one subscribed.)
    const slowEvents = slow.messages.filter((m) => m.type === 'next').length;
    expect(slowEvents + pending).toBeLessThanOrEqual(fastEvents.results.length + 1);
    fastEvents.stop();
    await fast.dispose();
  });
});
