import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HardwareAttestationService } from '../../subgraphs/hardware-attestation/index.ts';
import { pollingRateLimit, submitAttestation, waitForFinal } from '../support/attestation.ts';
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
 * Hardware attestation asks the resources subgraph before accepting a submission: one more today
 * (committed, counted for the UTC day) and one more running at once (held until the attestation
 * finishes). Here the FREE tier allows 1 at once and 3 a day.
 */

let supergraph: TestSupergraph;
let tenant: SignedUp;
let operatorKey: string;
let node: SimulatedNode;
let attestation: HardwareAttestationService;

const submitMutation = /* GraphQL */ `
  mutation ($i: SubmitHardwareAttestationInput!) {
    submitHardwareAttestation(input: $i) {
      id
      status
    }
  }
`;

async function standing() {
  const result = await supergraph.graphql<{
    organization: { quota: { limits: { kind: string; used: number | null }[] } };
  }>('{ organization { quota { limits { kind used } } } }', {}, tenant.accessToken);
  const limits = result.data?.organization.quota.limits ?? [];
  return Object.fromEntries(limits.map((l) => [l.kind, l.used]));
}

beforeAll(async () => {
  supergraph = await startTestSupergraph({
    QUOTA_TIER_LIMITS: JSON.stringify({
      FREE: { CONCURRENT_ATTESTATIONS: 1, ATTESTATIONS_PER_DAY: 3 },
    }),
    RATE_LIMIT_FREE: pollingRateLimit,
  });
  attestation = supergraph.subgraphs.find(
    (s) => s.name === 'hardware-attestation',
  ) as HardwareAttestationService;
  tenant = await signUp(supergraph, 'quota-attest');
  operatorKey = await createApiKey(supergraph, tenant.accessToken, 'OPERATOR');
  node = await enrollSimulatedNode(supergraph, operatorKey, 'quota-node', [
    { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' },
  ]);
});

afterAll(async () => {
  await node?.agent.stop();
  await supergraph?.stop();
});

describe('attestation quotas', () => {
  it('refuses a second concurrent attestation, accepts again once the first finishes, and stops at the daily limit', async () => {
    const gpuUuid = node.source.gpuUuids[0];
    // Workers paused: the first attestation stays PENDING, holding the only concurrent slot.
    await attestation.pipeline.stop(0);
    const first = await submitAttestation(supergraph, operatorKey, { gpuUuid });
    expect(first.status).toBe('PENDING');

    const refused = await supergraph.graphql(submitMutation, { i: { gpuUuid } }, operatorKey);
    expect(errorCode(refused)).toBe('QUOTA_EXCEEDED');
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      kind: 'CONCURRENT_ATTESTATIONS',
      limit: 1,
      used: 1,
    });
    // The refused submission's claim on today's count was given back.
    expect(await standing()).toMatchObject({ CONCURRENT_ATTESTATIONS: 1, ATTESTATIONS_PER_DAY: 1 });

    attestation.pipeline.start();
    expect((await waitForFinal(supergraph, operatorKey, first.id)).status).toBe('VERIFIED');
    await waitUntil(async () => (await standing()).CONCURRENT_ATTESTATIONS === 0);

    for (let n = 0; n < 2; n += 1) {
      const accepted = await submitAttestation(supergraph, operatorKey, { gpuUuid });
      await waitForFinal(supergraph, operatorKey, accepted.id);
      await waitUntil(async () => (await standing()).CONCURRENT_ATTESTATIONS === 0);
    }
    const overDaily = await supergraph.graphql(submitMutation, { i: { gpuUuid } }, operatorKey);
    expect(errorCode(overDaily)).toBe('QUOTA_EXCEEDED');
    expect(overDaily.errors?.[0]?.extensions).toMatchObject({
      kind: 'ATTESTATIONS_PER_DAY',
      limit: 3,
      used: 3,
    });
    expect(await standing()).toMatchObject({ CONCURRENT_ATTESTATIONS: 0, ATTESTATIONS_PER_DAY: 3 });

    // Three attestations finished: metered once each, whatever replays the bus delivered.
    const usage = await supergraph.graphql<{
      organization: { usage: { amount: number }[] };
    }>('{ organization { usage(metric: ATTESTATIONS) { amount } } }', {}, tenant.accessToken);
    expect(usage.data?.organization.usage.map((p) => p.amount)).toEqual([3]);
  });
});
