import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import { collect, subscriptionClient } from '../support/subscriptions.ts';
import {
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

/**
 * Two complete LotaBots deployments (gateway + every subgraph) on one PostgreSQL and one Redis,
 * as two replicas behind a load balancer would be. A node reports to one replica's gpu-agent;
 * subscribers on either gateway receive it (the report crosses replicas through Redis pub/sub),
 * and another organization's subscriber on either receives nothing. Real services only (.ci/run).
 */
const { DATABASE_URL, REDIS_URL } = process.env;

type Telemetry = { gpuTelemetry: { node: { hostname: string; organization: { name: string } } } };
const subscription = /* GraphQL */ `
  subscription {
    gpuTelemetry {
      node {
        hostname
        organization {
          name
        }
      }
    }
  }
`;

let first: TestSupergraph;
let second: TestSupergraph;
let owner: SignedUp;
let stranger: SignedUp;
const nodes: SimulatedNode[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  if (!DATABASE_URL || !REDIS_URL) {
    throw new Error('the replica suite needs DATABASE_URL and REDIS_URL; run it through .ci/run');
  }
  first = await startTestSupergraph({ RATE_LIMIT_FREE: '100000' });
  const shared = first.runtime.config;
  second = await startTestSupergraph({
    RATE_LIMIT_FREE: '100000',
    DATABASE_SCHEMA_PREFIX: shared.DATABASE_SCHEMA_PREFIX,
    REDIS_KEY_PREFIX: shared.REDIS_KEY_PREFIX,
    LOTABOTS_SECRET: shared.secret,
    // Replicas of one deployment share its public address, hence the tokens' issuer.
    TOKEN_ISSUER: shared.issuer,
    S3_KEY_PREFIX: shared.S3_KEY_PREFIX,
  });
  owner = await signUp(first, 'sub-replicas');
  stranger = await signUp(second, 'sub-stranger');
  const key = await createApiKey(first, owner.accessToken, 'OPERATOR');
  // One node reports to each replica's gpu-agent.
  nodes.push(
    await enrollSimulatedNode(first, key, 'node-on-first', [
      { model: 'A100-40GB', migEnabled: false },
    ]),
  );
  nodes.push(
    await enrollSimulatedNode(second, key, 'node-on-second', [
      { model: 'A100-40GB', migEnabled: false },
    ]),
  );
});
afterAll(async () => {
  for (const c of clients) await c.dispose();
  for (const n of nodes) await n.agent.stop();
  await second?.stop();
  await first?.stop();
});

function client(supergraph: TestSupergraph, token: string): Client {
  const created = subscriptionClient(supergraph.baseUrl, token);
  clients.push(created);
  return created;
}

describe('subscriptions across gateway replicas on Redis', () => {
  it('delivers reports published through either replica to subscribers on both', async () => {
    const onFirst = collect<Telemetry>(client(first, owner.accessToken), subscription);
    const onSecond = collect<Telemetry>(client(second, owner.accessToken), subscription);
    const strangerOnFirst = collect<Telemetry>(client(first, stranger.accessToken), subscription);
    const strangerOnSecond = collect<Telemetry>(client(second, stranger.accessToken), subscription);

    const hostnamesSeen = async (collected: typeof onFirst) => {
      for (let i = 1; i <= 20; i++) {
        await collected.waitFor(i);
        const seen = new Set(collected.results.map((r) => r.data?.gpuTelemetry.node.hostname));
        if (seen.has('node-on-first') && seen.has('node-on-second')) return seen;
      }
      throw new Error('reports of both nodes did not arrive');
    };
    expect([...(await hostnamesSeen(onFirst))].sort()).toEqual(['node-on-first', 'node-on-second']);
    expect([...(await hostnamesSeen(onSecond))].sort()).toEqual([
      'node-on-first',
      'node-on-second',
    ]);
    for (const result of [...onFirst.results, ...onSecond.results]) {
      expect(result.data?.gpuTelemetry.node.organization.name).toBe(owner.organization.name);
    }
    expect(strangerOnFirst.results).toEqual([]);
    expect(strangerOnSecond.results).toEqual([]);
    for (const c of [onFirst, onSecond, strangerOnFirst, strangerOnSecond]) c.stop();
  });
});
