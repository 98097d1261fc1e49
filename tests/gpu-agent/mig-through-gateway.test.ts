import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiKey,
  enrollSimulatedNode,
  gpuAgentUrl,
  type SimulatedNode,
} from '../support/gpu.ts';
import {
  errorCode,
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

interface MigInstance {
  gpuInstanceId: number;
  computeInstanceId: number | null;
  profile: string;
  memoryMiB: number;
  uuid: string | null;
  placementStart: number | null;
  placementSize: number | null;
}
interface Gpu {
  uuid: string;
  name: string;
  memoryTotalMiB: number;
  migMode: { current: boolean; pending: boolean };
  migProfiles: { name: string; id: number; instancesFree: number; instancesTotal: number }[];
  migInstances: MigInstance[];
}

const nodesQuery = /* GraphQL */ `
  {
    gpuNodes {
      id
      hostname
      online
      driverVersion
      cudaVersion
      source
      gpus {
        uuid
        name
        memoryTotalMiB
        migMode {
          current
          pending
        }
        migProfiles {
          name
          id
          instancesFree
          instancesTotal
        }
        migInstances {
          gpuInstanceId
          computeInstanceId
          profile
          memoryMiB
          uuid
          placementStart
          placementSize
        }
      }
    }
  }
`;
const createMutation = /* GraphQL */ `
  mutation ($input: CreateMigInstanceInput!) {
    createMigInstance(input: $input) {
      gpuInstanceId
      computeInstanceId
      profile
      memoryMiB
      uuid
      placementStart
      placementSize
    }
  }
`;
const destroyMutation = /* GraphQL */ `
  mutation ($input: DestroyMigInstanceInput!) {
    destroyMigInstance(input: $input)
  }
`;

let supergraph: TestSupergraph;
let owner: SignedUp;
let operatorKey: string;
let viewerKey: string;
let node: SimulatedNode;
let h100: string;
let a100NoMig: string;

beforeAll(async () => {
  // A FREE organization may spend 1000 cost units a minute; this suite reads the whole inventory
  // (90 units) after every change, so it gets room: rate limits have their own tests.
  supergraph = await startTestSupergraph({ RATE_LIMIT_FREE: '100000' });
  owner = await signUp(supergraph, 'gpu-owner');
  operatorKey = await createApiKey(supergraph, owner.accessToken, 'OPERATOR');
  viewerKey = await createApiKey(supergraph, owner.accessToken, 'VIEWER');
  node = await enrollSimulatedNode(supergraph, operatorKey, 'dgx-h100-01', [
    { model: 'H100-80GB', migEnabled: true },
    { model: 'A100-80GB', migEnabled: false },
  ]);
  [h100 = '', a100NoMig = ''] = node.source.gpuUuids;
});
afterAll(async () => {
  await node?.agent.stop();
  await supergraph?.stop();
});

async function gpuState(uuid: string, token = viewerKey): Promise<Gpu> {
  const result = await supergraph.graphql<{ gpuNodes: { gpus: Gpu[] }[] }>(nodesQuery, {}, token);
  const gpu = result.data?.gpuNodes.flatMap((n) => n.gpus).find((g) => g.uuid === uuid);
  if (!gpu) throw new Error(`GPU ${uuid} not in ${JSON.stringify(result)}`);
  return gpu;
}

describe('GPU nodes and MIG through the gateway', () => {
  it('shows the enrolled node with its GPUs, MIG profiles and driver to a viewer', async () => {
    const result = await supergraph.graphql<{
      gpuNodes: {
        hostname: string;
        online: boolean;
        source: string;
        driverVersion: string;
        gpus: Gpu[];
      }[];
    }>(nodesQuery, {}, viewerKey);
    expect(result.errors).toBeUndefined();
    const [listed] = result.data?.gpuNodes ?? [];
    expect(listed).toMatchObject({ hostname: 'dgx-h100-01', online: true, source: 'simulator' });
    expect(listed?.driverVersion).toMatch(/^\d+\.\d+/);
    const hopper = listed?.gpus.find((g) => g.uuid === h100);
    expect(hopper?.name).toBe('NVIDIA H100 80GB HBM3');
    expect(hopper?.migMode.current).toBe(true);
    expect(hopper?.migProfiles.find((p) => p.name === '1g.10gb')).toMatchObject({
      id: 19,
      instancesFree: 7,
      instancesTotal: 7,
    });
  });

  it("lets the tenant's operator create and destroy a MIG instance and shows migInstances change", async () => {
    const created = await supergraph.graphql<{ createMigInstance: MigInstance }>(
      createMutation,
      { input: { gpuUuid: h100, profile: '3g.40gb' } },
      operatorKey,
    );
    expect(created.errors).toBeUndefined();
    const instance = created.data!.createMigInstance;
    expect(instance).toMatchObject({ profile: '3g.40gb', computeInstanceId: 0, placementSize: 4 });
    expect(instance.uuid).toMatch(/^MIG-/);

    const after = await gpuState(h100);
    expect(after.migInstances.map((i) => i.gpuInstanceId)).toContain(instance.gpuInstanceId);
    expect(after.migProfiles.find((p) => p.name === '3g.40gb')?.instancesFree).toBe(1);
    expect(after.migProfiles.find((p) => p.name === '7g.80gb')?.instancesFree).toBe(0);

    const destroyed = await supergraph.graphql<{ destroyMigInstance: boolean }>(
      destroyMutation,
      { input: { gpuUuid: h100, gpuInstanceId: instance.gpuInstanceId } },
      operatorKey,
    );
    expect(destroyed.errors).toBeUndefined();
    expect(destroyed.data?.destroyMigInstance).toBe(true);
    const gone = await gpuState(h100);
    expect(gone.migInstances.map((i) => i.gpuInstanceId)).not.toContain(instance.gpuInstanceId);
    expect(gone.migProfiles.find((p) => p.name === '7g.80gb')?.instancesFree).toBe(1);
  });

  it('refuses a viewer with FORBIDDEN and changes nothing', async () => {
    const before = await gpuState(h100);
    const refused = await supergraph.graphql(
      createMutation,
      { input: { gpuUuid: h100, profile: '1g.10gb' } },
      viewerKey,
    );
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect((await gpuState(h100)).migInstances).toEqual(before.migInstances);
  });

  it("returns NVIDIA's reasons as clear errors", async () => {
    const full = await supergraph.graphql<{ createMigInstance: MigInstance }>(
      createMutation,
      { input: { gpuUuid: h100, profile: '7g.80gb' } },
      operatorKey,
    );
    expect(full.errors).toBeUndefined();
    const insufficient = await supergraph.graphql(
      createMutation,
      { input: { gpuUuid: h100, profile: '1g.10gb' } },
      operatorKey,
    );
    expect(errorCode(insufficient)).toBe('CONFLICT');
    expect(insufficient.errors?.[0]?.extensions?.reason).toBe('INSUFFICIENT_RESOURCES');
    expect(insufficient.errors?.[0]?.message).toMatch(/Insufficient Resources/);

    const whole = full.data!.createMigInstance.gpuInstanceId;
    const process = node.source.runProcess(h100, whole);
    const busy = await supergraph.graphql(
      destroyMutation,
      { input: { gpuUuid: h100, gpuInstanceId: whole } },
      operatorKey,
    );
    expect(errorCode(busy)).toBe('CONFLICT');
    expect(busy.errors?.[0]?.extensions?.reason).toBe('IN_USE');
    expect(busy.errors?.[0]?.message).toMatch(/In use by another client/i);
    node.source.stopProcess(process.pid);
    const freed = await supergraph.graphql(
      destroyMutation,
      { input: { gpuUuid: h100, gpuInstanceId: whole } },
      operatorKey,
    );
    expect(freed.errors).toBeUndefined();

    const migOff = await supergraph.graphql(
      createMutation,
      { input: { gpuUuid: a100NoMig, profile: '1g.10gb' } },
      operatorKey,
    );
    expect(errorCode(migOff)).toBe('CONFLICT');
    expect(migOff.errors?.[0]?.extensions?.reason).toBe('MIG_DISABLED');

    const unknown = await supergraph.graphql(
      createMutation,
      { input: { gpuUuid: h100, profile: '9g.99gb' } },
      operatorKey,
    );
    expect(errorCode(unknown)).toBe('BAD_USER_INPUT');
    expect(unknown.errors?.[0]?.message).toMatch(/1g\.10gb/);

    const noInstance = await supergraph.graphql(
      destroyMutation,
      { input: { gpuUuid: h100, gpuInstanceId: 99 } },
      operatorKey,
    );
    expect(errorCode(noInstance)).toBe('NOT_FOUND');
  });

  it('records every change and refusal in the audit log, readable by auditors only', async () => {
    const auditorKey = await createApiKey(supergraph, owner.accessToken, 'AUDITOR');
    const log = await supergraph.graphql<{
      migAuditLog: {
        kind: string;
        status: string;
        profile: string | null;
        failureReason: string | null;
        requestedBy: string;
        node: { hostname: string };
      }[];
    }>(
      '{ migAuditLog(first: 100) { kind status profile failureReason requestedBy node { hostname } } }',
      {},
      auditorKey,
    );
    expect(log.errors).toBeUndefined();
    const entries = log.data!.migAuditLog;
    expect(
      entries.filter((e) => e.kind === 'CREATE' && e.status === 'SUCCEEDED').length,
    ).toBeGreaterThanOrEqual(2);
    expect(entries.some((e) => e.failureReason === 'INSUFFICIENT_RESOURCES')).toBe(true);
    expect(entries.some((e) => e.failureReason === 'IN_USE')).toBe(true);
    expect(entries.every((e) => e.requestedBy.startsWith('apikey:'))).toBe(true);
    expect(entries[0]?.node.hostname).toBe('dgx-h100-01');

    const asViewer = await supergraph.graphql('{ migAuditLog { id } }', {}, viewerKey);
    expect(errorCode(asViewer)).toBe('FORBIDDEN');
  });

  it('hides the node from another tenant, by list, id, GPU UUID and mutation', async () => {
    const other = await signUp(supergraph, 'gpu-other');
    const otherOperator = await createApiKey(supergraph, other.accessToken, 'OPERATOR');
    const nodes = await supergraph.graphql<{ gpuNodes: unknown[] }>(nodesQuery, {}, otherOperator);
    expect(nodes.data?.gpuNodes).toEqual([]);
    const byId = await supergraph.graphql<{ gpuNode: unknown }>(
      'query($id: ID!) { gpuNode(id: $id) { hostname } }',
      { id: node.agent.nodeId },
      otherOperator,
    );
    expect(byId.data?.gpuNode).toBeNull();
    const gpu = await supergraph.graphql<{ gpu: unknown }>(
      'query($u: ID!) { gpu(uuid: $u) { name } }',
      { u: h100 },
      otherOperator,
    );
    expect(gpu.data?.gpu).toBeNull();
    const create = await supergraph.graphql(
      createMutation,
      { input: { gpuUuid: h100, profile: '1g.10gb' } },
      otherOperator,
    );
    expect(errorCode(create)).toBe('NOT_FOUND');
    expect((await gpuState(h100)).migInstances).toEqual([]);

    // Scoped in the subgraph itself: entity lookups sent straight to gpu-agent with the other
    // tenant's token (as a compromised or buggy gateway might) resolve to null, and the owner's
    // token resolves the same references.
    const entities = async (token: string) => {
      const response = await fetch(gpuAgentUrl(supergraph), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query:
            'query($r: [_Any!]!) { _entities(representations: $r) { ... on GpuNode { hostname } ... on Gpu { name } } }',
          variables: {
            r: [
              { __typename: 'GpuNode', id: node.agent.nodeId },
              { __typename: 'Gpu', uuid: h100 },
            ],
          },
        }),
      });
      return ((await response.json()) as { data: { _entities: unknown[] } }).data._entities;
    };
    expect(await entities(other.accessToken)).toEqual([null, null]);
    expect(await entities(owner.accessToken)).toEqual([
      { hostname: 'dgx-h100-01' },
      { name: 'NVIDIA H100 80GB HBM3' },
    ]);
  });
});
