import type { Client } from 'graphql-ws';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readAttestation,
  requestChallenge,
  submitAttestation,
  waitForFinal,
  pollingRateLimit,
} from '../support/attestation.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import { createFakeNras, type FakeNras } from '../support/nras.ts';
import { collect, subscriptionClient } from '../support/subscriptions.ts';
import { backends } from '../support/config.ts';
import type { HardwareAttestationService } from '../../subgraphs/hardware-attestation/index.ts';
import { withOutboxSequence } from '../../subgraphs/hardware-attestation/domain/outbox.ts';
import {
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

type Updated = {
  hardwareAttestationUpdated: {
    id: string;
    status: string;
    verdict: string | null;
    gpu: { uuid: string; name: string; migMode: { current: boolean } } | null;
  };
};

const updatedSubscription = /* GraphQL */ `
  subscription Updated($id: ID) {
    hardwareAttestationUpdated(id: $id) {
      id
      status
      verdict
      gpu {
        uuid
        name
        migMode {
          current
        }
      }
    }
  }
`;

let supergraph: TestSupergraph;
let nras: FakeNras;
let tenantA: SignedUp;
let tenantB: SignedUp;
let operatorKey: string;
let ccNode: SimulatedNode;
let oldDriverNode: SimulatedNode;
const clients: Client[] = [];

beforeAll(async () => {
  nras = await createFakeNras();
  supergraph = await startTestSupergraph({
    NRAS_JWKS: JSON.stringify(nras.jwks),
    RATE_LIMIT_FREE: pollingRateLimit,
  });
  [tenantA, tenantB] = await Promise.all([
    signUp(supergraph, 'attest-a'),
    signUp(supergraph, 'attest-b'),
  ]);
  operatorKey = await createApiKey(supergraph, tenantA.accessToken, 'OPERATOR');
  ccNode = await enrollSimulatedNode(supergraph, operatorKey, 'h100-cc', [
    {
      model: 'H100-80GB',
      migEnabled: true,
      migInstances: ['3g.40gb'],
      confidentialComputeMode: 'ON',
    },
  ]);
  oldDriverNode = await enrollSimulatedNode(
    supergraph,
    operatorKey,
    'h100-old-driver',
    [{ model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' }],
    { driverVersion: '535.54.03' },
  );
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await ccNode?.agent.stop();
  await oldDriverNode?.agent.stop();
  await supergraph?.stop();
});

function client(credential: string): Client {
  const created = subscriptionClient(supergraph.baseUrl, credential);
  clients.push(created);
  return created;
}

describe(`hardware attestation end to end (${backends.database}, ${backends.events}, ${backends.objects})`, () => {
  it('challenge → NRAS result + evidence of an H100 with CC on → VERIFIED, affirming, result verifiable with jose against the gateway JWKS; subscribers see PENDING → RUNNING → VERIFIED', async () => {
    const gpuUuid = ccNode.source.gpuUuids[0] ?? '';
    const mine = collect<Updated>(client(tenantA.accessToken), updatedSubscription);
    const theirs = collect<Updated>(client(tenantB.accessToken), updatedSubscription);
    // Both subscriptions are live once a first event could reach them: give the upstream a moment.
    await new Promise((resolve) => setTimeout(resolve, 500));

    const nonce = await requestChallenge(supergraph, operatorKey, gpuUuid);
    const nrasToken = await nras.issue({
      nonce,
      gpus: [{ index: 0, driverVersion: '580.173.02', vbiosVersion: '96.00.CF.00.01' }],
    });
    const submitted = await submitAttestation(supergraph, operatorKey, {
      gpuUuid,
      nonce,
      nrasToken,
    });
    expect(submitted.status).toBe('PENDING');

    const events = await mine.waitFor(3, 20_000);
    expect(events.map((e) => e.data?.hardwareAttestationUpdated.status)).toEqual([
      'PENDING',
      'RUNNING',
      'VERIFIED',
    ]);
    for (const event of events) {
      expect(event.errors).toBeUndefined();
      const updated = event.data?.hardwareAttestationUpdated;
      expect(updated?.id).toBe(submitted.id);
      // Owned by the gpu-agent subgraph, resolved by the gateway for each event.
      expect(updated?.gpu).toEqual({
        uuid: gpuUuid,
        name: 'NVIDIA H100 80GB HBM3',
        migMode: { current: true },
      });
    }

    const final = await waitForFinal(supergraph, operatorKey, submitted.id);
    expect(final.status).toBe('VERIFIED');
    expect(final.verdict).toBe('AFFIRMING');
    expect(final.policy).toBe('lotabots/nvidia-gpu-default@1');
    expect(final.claims.every((c) => c.passed)).toBe(true);
    expect(final.claims.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'nonce',
        'nras-signature',
        'driver-version',
        'confidential-compute-mode',
      ]),
    );

    // Verified with nothing but jose and the gateway's published key set.
    const jwks = (await (
      await fetch(`${supergraph.baseUrl}/.well-known/jwks.json`)
    ).json()) as JSONWebKeySet;
    const token = final.token ?? '';
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      algorithms: ['ES256', 'ES384'],
    });
    expect(protectedHeader.kid).toBe(decodeProtectedHeader(token).kid);
    expect(payload.eat_profile).toBe('tag:github.com,2023:veraison/ear');
    expect(payload.eat_nonce).toBe(nonce);
    expect(payload['ear.verifier-id']).toBeTruthy();
    const submods = payload.submods as Record<string, Record<string, unknown>>;
    expect(Object.keys(submods)).toEqual(['GPU-0']);
    expect(submods['GPU-0']?.['ear.status']).toBe('affirming');
    expect(submods['GPU-0']?.['ear.appraisal-policy-id']).toBe('lotabots/nvidia-gpu-default@1');
    expect(submods['GPU-0']?.['ear.trustworthiness-vector']).toMatchObject({
      'runtime-opaque': 2,
      configuration: 2,
    });

    // The report behind reportUrl holds the evidence and the same result.
    const report = (await (await fetch(final.reportUrl ?? '')).json()) as Record<string, unknown>;
    expect(report.attestationId).toBe(submitted.id);
    expect((report.result as { token: string }).token).toBe(token);

    // The other tenant's subscriber saw none of it, and cannot read it.
    expect(theirs.results).toEqual([]);
    expect(await readAttestation(supergraph, tenantB.accessToken, submitted.id)).toBeNull();
    mine.stop();
    theirs.stop();
  });

  it('a batch the outbox publishes again (database lost before marking it) reaches a subscriber once', async () => {
    const gpuUuid = oldDriverNode.source.gpuUuids[0] ?? '';
    const mine = collect<Updated>(client(tenantA.accessToken), updatedSubscription);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const first = await submitAttestation(supergraph, operatorKey, { gpuUuid });
    await mine.waitFor(3, 20_000);
    // Exactly what the outbox sends when it re-publishes: the same rows, the same sequences.
    const attestation = supergraph.subgraphs.find((s) => s.name === 'hardware-attestation') as
      HardwareAttestationService | undefined;
    const rows = await attestation!.deps.prisma.outboxEvent.findMany({
      where: { payload: { path: ['id'], equals: first.id } },
      orderBy: { id: 'asc' },
    });
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      await supergraph.runtime.events.publish(row.topic, withOutboxSequence(row.payload, row.id));
    }
    // The bus keeps order, so once the next attestation's changes arrive the replay has too.
    const second = await submitAttestation(supergraph, operatorKey, { gpuUuid });
    const events = await mine.waitFor(6, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(
      mine.results.map((e) => [
        e.data?.hardwareAttestationUpdated.id,
        e.data?.hardwareAttestationUpdated.status,
      ]),
    ).toEqual([
      [first.id, 'PENDING'],
      [first.id, 'RUNNING'],
      [first.id, 'FAILED'],
      [second.id, 'PENDING'],
      [second.id, 'RUNNING'],
      [second.id, 'FAILED'],
    ]);
    expect(events).toHaveLength(6);
    mine.stop();
  });

  it('a disallowed driver → FAILED, contraindicated, and the claim names the driver', async () => {
    const gpuUuid = oldDriverNode.source.gpuUuids[0] ?? '';
    const submitted = await submitAttestation(supergraph, operatorKey, { gpuUuid });
    const final = await waitForFinal(supergraph, operatorKey, submitted.id);
    expect(final.status).toBe('FAILED');
    expect(final.verdict).toBe('CONTRAINDICATED');
    const driver = final.claims.find((c) => c.name === 'driver-version');
    expect(driver).toMatchObject({ passed: false, status: 'CONTRAINDICATED', actual: '535.54.03' });
    expect(final.error).toContain('driver-version');
    const { payload } = await jwtVerify(
      final.token ?? '',
      createLocalJWKSet(
        (await (
          await fetch(`${supergraph.baseUrl}/.well-known/jwks.json`)
        ).json()) as JSONWebKeySet,
      ),
    );
    const submods = payload.submods as Record<string, Record<string, unknown>>;
    expect(submods['GPU-0']?.['ear.status']).toBe('contraindicated');
  });

  it('verifyAttestationResult answers for anyone, and tells a tampered result apart', async () => {
    const gpuUuid = ccNode.source.gpuUuids[0] ?? '';
    const submitted = await submitAttestation(supergraph, operatorKey, { gpuUuid });
    const final = await waitForFinal(supergraph, operatorKey, submitted.id);
    const query = `query($t: String!) { verifyAttestationResult(token: $t) { valid reason status attestationId kid } }`;
    const good = await supergraph.graphql<{
      verifyAttestationResult: { valid: boolean; status: string; attestationId: string };
    }>(query, { t: final.token }, null);
    expect(good.data?.verifyAttestationResult).toMatchObject({
      valid: true,
      status: 'AFFIRMING',
      attestationId: submitted.id,
    });
    const [header, body, signature] = (final.token ?? '').split('.');
    const forgedBody = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body ?? '', 'base64url').toString()), iat: 1 }),
    ).toString('base64url');
    const bad = await supergraph.graphql<{
      verifyAttestationResult: { valid: boolean; reason: string };
    }>(query, { t: `${header}.${forgedBody}.${signature}` }, null);
    expect(bad.data?.verifyAttestationResult.valid).toBe(false);
    expect(bad.data?.verifyAttestationResult.reason).toMatch(/signature/i);
  });
});
