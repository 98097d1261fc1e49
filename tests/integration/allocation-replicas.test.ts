import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { createRuntime, type Runtime } from '../../platform/runtime.ts';
import { startResources, type ResourcesService } from '../../subgraphs/resources/index.ts';
import {
  createApiKey,
  enrollSimulatedNode,
  gpuAgentUrl,
  type SimulatedNode,
} from '../support/gpu.ts';
import { signUp, startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

/**
 * Two resources replicas on one PostgreSQL: concurrent allocation requests split across them
 * must never book one MIG slot twice. Exactly the fleet's capacity succeeds, the rest answer
 * NO_CAPACITY, and the slots in the database match the successful answers one to one.
 * PGlite is one process's database, so this only runs against the real services (.ci/run).
 */
const { DATABASE_URL } = process.env;

let supergraph: TestSupergraph;
let replicaRuntime: Runtime;
let replicaA: ResourcesService;
let replicaB: ResourcesService;
let nodes: SimulatedNode[] = [];
let operatorKey: string;
let token: string;

beforeAll(async () => {
  if (!DATABASE_URL) {
    throw new Error('the allocation replica suite needs DATABASE_URL; run it through .ci/run');
  }
  supergraph = await startTestSupergraph({ RATE_LIMIT_FREE: '100000' });
  replicaA = supergraph.subgraphs.find((s) => s.name === 'resources') as ResourcesService;
  const config = supergraph.runtime.config;
  replicaRuntime = createRuntime(config, createLogger(config));
  replicaB = await startResources(
    replicaRuntime,
    { host: '127.0.0.1', port: 0 },
    { identityUrl: supergraph.identity.url, gpuAgentUrl: gpuAgentUrl(supergraph) },
  );
  const owner = await signUp(supergraph, 'alloc-replicas');
  token = owner.accessToken;
  operatorKey = await createApiKey(supergraph, owner.accessToken, 'OPERATOR');
  nodes = await Promise.all(
    ['rack-a', 'rack-b'].map((hostname) =>
      enrollSimulatedNode(supergraph, operatorKey, hostname, [
        { model: 'H100-80GB', migEnabled: true },
        { model: 'H100-80GB', migEnabled: true },
      ]),
    ),
  );
});

afterAll(async () => {
  for (const node of nodes) await node.agent.stop();
  await replicaB?.stop();
  await replicaRuntime?.close();
  await supergraph?.stop();
});

interface Answer {
  data?: {
    allocateGpu: {
      id: string;
      gpu: { uuid: string };
      placementStart: number;
      placementSize: number;
    };
  } | null;
  errors?: { extensions?: { code?: string; reason?: string } }[];
}

async function allocateOn(replica: ResourcesService, profile: string): Promise<Answer> {
  const response = await fetch(replica.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `mutation($i: AllocateGpuInput!) {
        allocateGpu(input: $i) { id gpu { uuid } placementStart placementSize }
      }`,
      variables: { i: { profile, durationSeconds: 3600 } },
    }),
  });
  return (await response.json()) as Answer;
}

describe('allocations on two resources replicas against PostgreSQL', () => {
  it('never double-books a slot under concurrent requests, and fills exactly the capacity', async () => {
    // 4 H100 with MIG on and no instances: 7 one-slice 1g placements each (slots 0–6), 28 in all.
    const requests = Array.from({ length: 40 }, (_, i) =>
      allocateOn(i % 2 === 0 ? replicaA : replicaB, '1g.10gb'),
    );
    const answers = await Promise.all(requests);
    const granted = answers.flatMap((a) => (a.data?.allocateGpu ? [a.data.allocateGpu] : []));
    const refused = answers.filter((a) => !a.data?.allocateGpu);
    expect(granted).toHaveLength(28);
    expect(refused.map((a) => a.errors?.[0]?.extensions?.reason)).toEqual(
      Array.from({ length: 12 }, () => 'NO_CAPACITY'),
    );

    const slots = granted.map((g) => `${g.gpu.uuid}:${g.placementStart}`);
    expect(new Set(slots).size).toBe(slots.length);
    const rows = await replicaA.deps.prisma.allocationSlot.findMany({
      where: { allocationId: { in: granted.map((g) => g.id) } },
    });
    expect(rows.map((r) => `${r.gpuUuid}:${r.slot}`).sort()).toEqual([...slots].sort());
  });
});
