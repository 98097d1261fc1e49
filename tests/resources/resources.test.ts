import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hardwareAttestationStatusTopic,
  usageRecordedTopic,
} from '../../platform/events/topics.ts';
import type { ResourcesService } from '../../subgraphs/resources/index.ts';
import { pollingRateLimit } from '../support/attestation.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import {
  errorCode,
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { waitUntil } from '../support/wait.ts';

/**
 * The resources subgraph through the gateway (allocations, quotas, usage) and its quota API as
 * other subgraphs call it, on the real supergraph with simulated GPU nodes.
 */

interface AllocationView {
  id: string;
  profile: string;
  state: string;
  placementStart: number;
  placementSize: number;
  gpuInstanceId: number | null;
  gpu: { uuid: string; name: string };
  node: { id: string; hostname: string };
}

const allocationFields = /* GraphQL */ `
  fragment AllocationFields on Allocation {
    id
    profile
    state
    placementStart
    placementSize
    gpuInstanceId
    gpu {
      uuid
      name
    }
    node {
      id
      hostname
    }
  }
`;

const allocateMutation = /* GraphQL */ `
  mutation Allocate($input: AllocateGpuInput!) {
    allocateGpu(input: $input) {
      ...AllocationFields
    }
  }
  ${allocationFields}
`;

/** What the quota API answers: a reservation, or `{ error: { code, message, … } }`. */
interface QuotaApiBody {
  id: string;
  state: string;
  subject?: string | null;
  error: { code: string; message: string; [detail: string]: unknown };
}

let supergraph: TestSupergraph;
let tenant: SignedUp;
let other: SignedUp;
let operatorKey: string;
let node: SimulatedNode;
let resources: ResourcesService;

async function allocate(input: Record<string, unknown>, credential = operatorKey) {
  return supergraph.graphql<{ allocateGpu: AllocationView }>(
    allocateMutation,
    { input },
    credential,
  );
}

async function release(id: string, credential = operatorKey) {
  return supergraph.graphql<{ releaseAllocation: { id: string; state: string } }>(
    'mutation($id: ID!) { releaseAllocation(id: $id) { id state endedAt } }',
    { id },
    credential,
  );
}

async function quota(credential = tenant.accessToken) {
  const result = await supergraph.graphql<{
    organization: {
      quota: {
        limits: {
          kind: string;
          limit: number;
          used: number | null;
          reserved: number | null;
          remaining: number | null;
        }[];
      };
    };
  }>(
    '{ organization { quota { limits { kind limit used reserved remaining window overridden } } } }',
    {},
    credential,
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return Object.fromEntries(result.data.organization.quota.limits.map((l) => [l.kind, l]));
}

async function quotaApi(path: string, body: unknown, token = tenant.accessToken) {
  const response = await fetch(`${resources.url.replace(/\/graphql$/, '')}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as QuotaApiBody };
}

beforeAll(async () => {
  supergraph = await startTestSupergraph({
    USAGE_FLUSH_SECONDS: '1',
    RATE_LIMIT_FREE: pollingRateLimit,
    // The FREE tier's own quotas (the suite default raises the attestation ones).
    QUOTA_TIER_LIMITS: '{}',
  });
  resources = supergraph.subgraphs.find((s) => s.name === 'resources') as ResourcesService;
  [tenant, other] = await Promise.all([signUp(supergraph, 'res'), signUp(supergraph, 'res-other')]);
  operatorKey = await createApiKey(supergraph, tenant.accessToken, 'OPERATOR');
  node = await enrollSimulatedNode(supergraph, operatorKey, 'res-node', [
    { model: 'H100-80GB', migEnabled: true, migInstances: ['1g.10gb'] },
    { model: 'H100-80GB', migEnabled: true },
    { model: 'H100-80GB', migEnabled: false },
  ]);
});

afterAll(async () => {
  await node?.agent.stop();
  await supergraph?.stop();
});

describe('GPU allocations', () => {
  it('places a 1g slice on the idle 1g instance that already exists, and lists it', async () => {
    const result = await allocate({ profile: '1g.10gb', durationSeconds: 600 });
    const allocation = result.data?.allocateGpu;
    expect(allocation, JSON.stringify(result.errors)).toBeTruthy();
    expect(allocation).toMatchObject({
      profile: '1g.10gb',
      state: 'ACTIVE',
      placementSize: 1,
      gpu: { uuid: node.source.gpuUuids[0], name: 'NVIDIA H100 80GB HBM3' },
      node: { hostname: 'res-node' },
    });
    expect(allocation?.gpuInstanceId).not.toBeNull();

    const list = await supergraph.graphql<{
      allocations: { edges: { node: { id: string } }[] };
    }>(
      '{ allocations(first: 10) { edges { node { id } } pageInfo { hasNextPage } } }',
      {},
      operatorKey,
    );
    expect(list.data?.allocations.edges.map((e) => e.node.id)).toContain(allocation?.id);
    await release(allocation!.id);
  });

  it('gives a whole GPU only where MIG is off, refuses a second (NO_CAPACITY) and frees it on release', async () => {
    const first = await allocate({ profile: 'GPU', durationSeconds: 600 });
    expect(first.data?.allocateGpu.gpu.uuid).toBe(node.source.gpuUuids[2]);
    expect(first.data?.allocateGpu).toMatchObject({ placementStart: 0, placementSize: 8 });

    const second = await allocate({ profile: 'GPU', durationSeconds: 600 });
    expect(errorCode(second)).toBe('CONFLICT');
    expect(second.errors?.[0]?.extensions?.reason).toBe('NO_CAPACITY');

    const released = await release(first.data!.allocateGpu.id);
    expect(released.data?.releaseAllocation.state).toBe('RELEASED');
    const again = await release(first.data!.allocateGpu.id);
    expect(again.data?.releaseAllocation.state).toBe('RELEASED');

    const third = await allocate({ profile: 'GPU', durationSeconds: 600 });
    expect(third.data?.allocateGpu.gpu.uuid).toBe(node.source.gpuUuids[2]);
    await release(third.data!.allocateGpu.id);
  });

  it('fills the partly used MIG GPU before the empty one (best fit)', async () => {
    const held = await allocate({ profile: '3g.40gb', durationSeconds: 600 });
    const heldGpu = held.data?.allocateGpu.gpu.uuid;
    const next = await allocate({ profile: '2g.20gb', durationSeconds: 600 });
    expect(next.data?.allocateGpu.gpu.uuid).toBe(heldGpu);
    await release(held.data!.allocateGpu.id);
    await release(next.data!.allocateGpu.id);
  });

  it('answers bad input precisely and never shows one tenant another tenant’s allocation', async () => {
    expect(errorCode(await allocate({ profile: '9g.999gb', durationSeconds: 600 }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await allocate({ profile: '1g.10gb', durationSeconds: 5 }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await allocate({ profile: '', durationSeconds: 600 }))).toBe('BAD_USER_INPUT');
    expect(
      errorCode(await allocate({ profile: '1g.10gb', durationSeconds: 600, nodeId: 'nope' })),
    ).toBe('NOT_FOUND');

    const mine = await allocate({ profile: '1g.10gb', durationSeconds: 600 });
    const id = mine.data!.allocateGpu.id;
    const seen = await supergraph.graphql<{ allocation: unknown }>(
      'query($id: ID!) { allocation(id: $id) { id } }',
      { id },
      other.accessToken,
    );
    expect(seen.data?.allocation).toBeNull();
    const otherKey = await createApiKey(supergraph, other.accessToken, 'OPERATOR');
    expect(errorCode(await release(id, otherKey))).toBe('NOT_FOUND');
    // The other tenant has no GPUs at all: its allocation request names nothing of ours.
    expect(errorCode(await allocate({ profile: '1g.10gb', durationSeconds: 600 }, otherKey))).toBe(
      'BAD_USER_INPUT',
    );
    await release(id);
  });
});

describe('quotas', () => {
  it('refuses GPU hours past the tier limit with the limit and use, and recovers when an allocation ends early', async () => {
    const before = await quota();
    expect(before.GPU_ALLOCATION_HOURS).toMatchObject({ limit: 100 });
    const startUsed = before.GPU_ALLOCATION_HOURS!.used ?? 0;

    // 60 h of a whole GPU, then 60 h of a 4/8 slice (30 h): 90 h of the FREE tier's 100.
    const whole = await allocate({ profile: 'GPU', durationSeconds: 60 * 3600 });
    const half = await allocate({ profile: '3g.40gb', durationSeconds: 60 * 3600 });
    expect(whole.data && half.data, JSON.stringify([whole.errors, half.errors])).toBeTruthy();

    const refused = await allocate({ profile: '1g.10gb', durationSeconds: 100 * 3600 });
    expect(errorCode(refused)).toBe('QUOTA_EXCEEDED');
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      kind: 'GPU_ALLOCATION_HOURS',
      limit: 100,
      requested: 12.5,
    });
    expect(refused.errors?.[0]?.extensions?.used).toBeCloseTo(startUsed + 90, 3);
    expect((await quota()).GPU_ALLOCATION_HOURS!.remaining).toBeCloseTo(10 - startUsed, 3);

    // Released after a moment, the whole GPU pays for seconds, not 60 hours.
    await release(whole.data!.allocateGpu.id);
    const recovered = await allocate({ profile: '1g.10gb', durationSeconds: 100 * 3600 });
    expect(recovered.data?.allocateGpu.state, JSON.stringify(recovered.errors)).toBe('ACTIVE');
    await release(half.data!.allocateGpu.id);
    await release(recovered.data!.allocateGpu.id);
    expect((await quota()).GPU_ALLOCATION_HOURS!.used).toBeLessThan(startUsed + 1);
  });

  it('counts a reservation until its TTL when the consumer crashes before committing', async () => {
    const held = await quotaApi('/quota/reservations', {
      kind: 'CONCURRENT_ATTESTATIONS',
      amount: 5,
      ttlSeconds: 5,
      idempotencyKey: 'crashing-consumer-1',
    });
    expect(held.status).toBe(201);
    const retry = await quotaApi('/quota/reservations', {
      kind: 'CONCURRENT_ATTESTATIONS',
      amount: 5,
      ttlSeconds: 5,
      idempotencyKey: 'crashing-consumer-1',
    });
    expect(retry.body.id).toBe(held.body.id);

    const refused = await quotaApi('/quota/reservations', {
      kind: 'CONCURRENT_ATTESTATIONS',
      amount: 1,
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      limit: 5,
      used: 0,
      reserved: 5,
    });
    expect((await quota()).CONCURRENT_ATTESTATIONS).toMatchObject({ reserved: 5, remaining: 0 });

    // The consumer never commits. Past the TTL the units are free again without anyone releasing.
    await new Promise((resolve) => setTimeout(resolve, 5_200));
    expect((await quota()).CONCURRENT_ATTESTATIONS).toMatchObject({ reserved: 0, remaining: 5 });
    const late = await quotaApi(`/quota/reservations/${held.body.id}/commit`, {});
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ code: 'CONFLICT', reason: 'RESERVATION_ENDED' });
    expect(await resources.deps.quotas.expireReservations()).toBeGreaterThanOrEqual(1);

    const fresh = await quotaApi('/quota/reservations', {
      kind: 'CONCURRENT_ATTESTATIONS',
      amount: 1,
    });
    expect(fresh.status).toBe(201);
    const committed = await quotaApi(`/quota/reservations/${fresh.body.id}/commit`, {
      subject: 'attestation-x',
    });
    expect(committed.body).toMatchObject({ state: 'COMMITTED', subject: 'attestation-x' });
    expect((await quota()).CONCURRENT_ATTESTATIONS).toMatchObject({ used: 1, reserved: 0 });
    const released = await quotaApi(`/quota/reservations/${fresh.body.id}/release`, {});
    expect(released.body.state).toBe('RELEASED');
    expect((await quota()).CONCURRENT_ATTESTATIONS).toMatchObject({ used: 0, remaining: 5 });
  });

  it('rejects bad quota calls with precise errors and scopes them to the token’s organization', async () => {
    expect(
      (await quotaApi('/quota/reservations', { kind: 'NOPE', amount: 1 })).body.error.code,
    ).toBe('BAD_USER_INPUT');
    expect(
      (await quotaApi('/quota/reservations', { kind: 'ATTESTATIONS_PER_DAY', amount: -1 })).status,
    ).toBe(400);
    const anonymous = await fetch(`${resources.url.replace(/\/graphql$/, '')}/quota/reservations`, {
      method: 'POST',
      body: '{}',
    });
    expect(anonymous.status).toBe(401);
    const mine = await quotaApi('/quota/reservations', { kind: 'ATTESTATIONS_PER_DAY', amount: 1 });
    const foreign = await quotaApi(
      `/quota/reservations/${mine.body.id}/release`,
      {},
      other.accessToken,
    );
    expect(foreign.status).toBe(404);
    await quotaApi(`/quota/reservations/${mine.body.id}/release`, {});
  });
});

describe('usage metering', () => {
  async function usage(metric: string) {
    const result = await supergraph.graphql<{
      organization: { usage: { hour: string; metric: string; amount: number }[]; usageCsv: string };
    }>(
      'query($m: UsageMetric) { organization { usage(metric: $m) { hour metric amount } usageCsv } }',
      { m: metric },
      tenant.accessToken,
    );
    if (!result.data) throw new Error(JSON.stringify(result.errors));
    return result.data.organization;
  }

  it('counts a replayed usage event and a republished attestation status exactly once', async () => {
    const at = new Date().toISOString();
    const batch = {
      events: [
        {
          eventId: 'replay-test-1',
          organizationId: tenant.organization.id,
          metric: 'STORAGE_BYTE_HOURS',
          amount: 1234,
          at,
        },
      ],
    };
    const status = {
      id: 'attestation-replayed',
      organizationId: tenant.organization.id,
      status: 'VERIFIED',
      completedAt: at,
    };
    for (let i = 0; i < 3; i += 1) {
      await supergraph.runtime.events.publish(usageRecordedTopic, batch);
      await supergraph.runtime.events.publish(hardwareAttestationStatusTopic, status);
    }
    await supergraph.runtime.events.publish(hardwareAttestationStatusTopic, {
      ...status,
      id: 'attestation-still-running',
      status: 'RUNNING',
    });
    await waitUntil(async () => (await usage('ATTESTATIONS')).usage.length > 0);
    await waitUntil(async () => (await usage('STORAGE_BYTE_HOURS')).usage.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await usage('STORAGE_BYTE_HOURS')).usage.map((p) => p.amount)).toEqual([1234]);
    expect((await usage('ATTESTATIONS')).usage.map((p) => p.amount)).toEqual([1]);
  });

  it('meters the gateway’s API cost and allocation hours per hour, and exports them as CSV', async () => {
    const allocation = await allocate({ profile: '1g.10gb', durationSeconds: 600 });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await release(allocation.data!.allocateGpu.id);
    await waitUntil(async () => (await usage('GPU_ALLOCATION_HOURS')).usage.length > 0);
    await waitUntil(async () => (await usage('API_COST_UNITS')).usage.length > 0, 10_000);
    const { usage: hours, usageCsv } = await usage('GPU_ALLOCATION_HOURS');
    expect(hours[0]!.amount).toBeGreaterThan(0);
    expect(hours[0]!.amount).toBeLessThan(0.01);
    const [header, ...rows] = usageCsv.trimEnd().split('\r\n');
    expect(header).toBe('hour,metric,amount');
    expect(rows.some((r) => /^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z,API_COST_UNITS,\d+$/.test(r))).toBe(
      true,
    );
    expect(rows.some((r) => r.includes(',GPU_ALLOCATION_HOURS,'))).toBe(true);
  });

  it('refuses a usage range longer than 31 days', async () => {
    const result = await supergraph.graphql(
      'query($f: DateTime) { organization { usage(from: $f) { amount } } }',
      { f: '2020-01-01T00:00:00Z' },
      tenant.accessToken,
    );
    expect(errorCode(result)).toBe('BAD_USER_INPUT');
  });
});
