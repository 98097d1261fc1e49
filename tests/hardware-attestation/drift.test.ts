import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardwareAttestationDriftTopic } from '../../platform/events/topics.ts';
import { submitAttestation, waitForFinal, pollingRateLimit } from '../support/attestation.ts';
import { backends } from '../support/config.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import {
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

interface Listed {
  hardwareAttestations: {
    edges: { node: { id: string; status: string; trigger: string; submittedAt: string } }[];
  };
}

let supergraph: TestSupergraph;
let tenant: SignedUp;
let operatorKey: string;
let node: SimulatedNode;
const drifts: { gpuUuid: string; attestationId: string; changes: unknown[] }[] = [];
// 3.6 s: re-attestation is observable within a test.
const intervalHours = 0.001;

beforeAll(async () => {
  supergraph = await startTestSupergraph({
    REATTESTATION_INTERVAL_HOURS: String(intervalHours),
    RATE_LIMIT_FREE: pollingRateLimit,
  });
  await supergraph.runtime.events.subscribe(hardwareAttestationDriftTopic, (payload) => {
    drifts.push(payload as (typeof drifts)[number]);
  });
  tenant = await signUp(supergraph, 'drift');
  operatorKey = await createApiKey(supergraph, tenant.accessToken, 'OPERATOR');
  node = await enrollSimulatedNode(
    supergraph,
    operatorKey,
    'drift-node',
    [
      { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' },
      { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' },
    ],
    { intervalSeconds: 1 },
  );
}, 120_000);

afterAll(async () => {
  await node?.agent.stop();
  await supergraph?.stop();
});

async function attestationsOf(gpuUuid: string): Promise<Listed['hardwareAttestations']['edges']> {
  const result = await supergraph.graphql<Listed>(
    'query($g: ID) { hardwareAttestations(gpuUuid: $g, first: 50) { edges { node { id status trigger submittedAt } } } }',
    { g: gpuUuid },
    operatorKey,
  );
  return result.data?.hardwareAttestations.edges ?? [];
}

async function eventually<T>(probe: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`nothing after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe(`drift and re-attestation (${backends.database}, ${backends.events})`, () => {
  it('a driver change after VERIFIED is recorded once as drift, announced, and re-attested at once', async () => {
    const gpuUuid = node.source.gpuUuids[0] ?? '';
    const first = await submitAttestation(supergraph, operatorKey, { gpuUuid });
    expect((await waitForFinal(supergraph, operatorKey, first.id)).status).toBe('VERIFIED');

    node.source.setDriverVersion('590.44.01');
    const drift = await eventually(
      () => Promise.resolve(drifts.find((d) => d.gpuUuid === gpuUuid) ?? null),
      10_000,
    );
    expect(drift.attestationId).toBe(first.id);
    expect(drift.changes).toEqual([
      { field: 'driverVersion', before: '580.173.02', after: '590.44.01' },
    ]);
    const reattested = await eventually(async () => {
      const found = (await attestationsOf(gpuUuid)).find((e) => e.node.trigger === 'drift');
      return found?.node ?? null;
    }, 10_000);
    const final = await waitForFinal(supergraph, operatorKey, reattested.id);
    expect(final.claims.find((c) => c.name === 'driver-version')?.actual).toBe('590.44.01');

    // More reports keep arriving; the drift stays recorded once, on the verified attestation.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(drifts.filter((d) => d.attestationId === first.id)).toHaveLength(1);
    const audit = await supergraph.graphql<{
      hardwareAttestation: { auditTrail: { action: string; detail: { changes: unknown[] } }[] };
    }>(
      'query($id: ID!) { hardwareAttestation(id: $id) { auditTrail { action detail } } }',
      { id: first.id },
      tenant.accessToken,
    );
    const driftEntries = audit.data?.hardwareAttestation.auditTrail.filter(
      (entry) => entry.action === 'attestation.drift',
    );
    expect(driftEntries).toHaveLength(1);
  });

  it('a GPU attested before is re-attested on schedule, in its own organization only', async () => {
    const gpuUuid = node.source.gpuUuids[1] ?? '';
    const first = await submitAttestation(supergraph, operatorKey, { gpuUuid });
    await waitForFinal(supergraph, operatorKey, first.id);
    const scheduled = await eventually(async () => {
      const found = (await attestationsOf(gpuUuid)).find((e) => e.node.trigger === 'reattestation');
      return found?.node ?? null;
    }, 15_000);
    expect(new Date(scheduled.submittedAt).getTime()).toBeGreaterThan(Date.now() - 15_000);
    expect((await waitForFinal(supergraph, operatorKey, scheduled.id)).status).toBe('VERIFIED');

    // Re-attestations are the GPU owner's: another organization sees none of them.
    const strangers = await signUp(supergraph, 'drift-other');
    const listed = await supergraph.graphql<Listed>(
      '{ hardwareAttestations(first: 5) { edges { node { id status trigger submittedAt } } } }',
      {},
      strangers.accessToken,
    );
    expect(listed.data?.hardwareAttestations.edges).toEqual([]);
  });
});
