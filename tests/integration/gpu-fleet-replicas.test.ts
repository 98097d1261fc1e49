import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { createRuntime, type Runtime } from '../../platform/runtime.ts';
import { startGpuAgent, type GpuAgentService } from '../../gpu-agent/subgraph/index.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import { signUp, startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

/**
 * Two gpu-agent replicas on one PostgreSQL and one Redis: the node's agent reports to and polls
 * replica A only, while callers talk to replica B. Snapshots reach B through Redis pub/sub and
 * MIG commands reach the agent through the shared command table plus a Redis wake-up.
 * PGlite is one process's database, so this only runs against the real services (.ci/run).
 */
const { DATABASE_URL, REDIS_URL } = process.env;

let supergraph: TestSupergraph;
let replicaRuntime: Runtime;
let replicaB: GpuAgentService;
let node: SimulatedNode;
let token: string;

beforeAll(async () => {
  if (!DATABASE_URL || !REDIS_URL) {
    throw new Error('the replica suite needs DATABASE_URL and REDIS_URL; run it through .ci/run');
  }
  supergraph = await startTestSupergraph({ RATE_LIMIT_FREE: '100000' });
  const config = supergraph.runtime.config;
  replicaRuntime = createRuntime(config, createLogger(config));
  replicaB = await startGpuAgent(
    replicaRuntime,
    { host: '127.0.0.1', port: 0 },
    { identityUrl: supergraph.identity.url },
  );
  const owner = await signUp(supergraph, 'replicas');
  token = owner.accessToken;
  const key = await createApiKey(supergraph, owner.accessToken, 'OPERATOR');
  // enrollSimulatedNode points the agent at the supergraph's own gpu-agent: replica A.
  node = await enrollSimulatedNode(supergraph, key, 'replicated-node', [
    { model: 'A100-80GB', migEnabled: true },
  ]);
});
afterAll(async () => {
  await node?.agent.stop();
  await replicaB?.stop();
  await replicaRuntime?.close();
  await supergraph?.stop();
});

async function onReplicaB<T>(query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(replicaB.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: T; errors?: { message: string }[] };
}

describe('gpu-agent replicas on PostgreSQL and Redis', () => {
  it('serves the node an agent reported to the other replica, and routes MIG commands to it', async () => {
    const uuid = node.source.gpuUuids[0]!;
    const listed = await onReplicaB<{ gpuNodes: { hostname: string; online: boolean }[] }>(
      '{ gpuNodes { hostname online } }',
    );
    expect(listed.data?.gpuNodes).toEqual([{ hostname: 'replicated-node', online: true }]);

    const created = await onReplicaB<{
      createMigInstance: { gpuInstanceId: number; profile: string };
    }>(
      'mutation($i: CreateMigInstanceInput!) { createMigInstance(input: $i) { gpuInstanceId profile } }',
      { i: { gpuUuid: uuid, profile: '2g.20gb' } },
    );
    expect(created.errors).toBeUndefined();
    expect(created.data?.createMigInstance.profile).toBe('2g.20gb');
    // The agent (on replica A) ran it on the node; replica B already serves the new layout.
    const after = await onReplicaB<{ gpu: { migInstances: { gpuInstanceId: number }[] } }>(
      'query($u: ID!) { gpu(uuid: $u) { migInstances { gpuInstanceId } } }',
      { u: uuid },
    );
    expect(after.data?.gpu.migInstances).toEqual([
      { gpuInstanceId: created.data!.createMigInstance.gpuInstanceId },
    ]);
    const direct = await node.source.collect();
    expect(direct.gpus[0]?.migInstances.map((i) => i.profile)).toEqual(['2g.20gb']);
  });
});
