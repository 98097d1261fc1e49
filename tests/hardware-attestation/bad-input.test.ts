import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  requestChallenge,
  submitAttestation,
  waitForFinal,
  type AttestationView,
  pollingRateLimit,
} from '../support/attestation.ts';
import { backends } from '../support/config.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import { createFakeNras, type FakeNras } from '../support/nras.ts';
import {
  errorCode,
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

let supergraph: TestSupergraph;
let nras: FakeNras;
let tenantA: SignedUp;
let tenantB: SignedUp;
let keyA: string;
let keyB: string;
let nodeA: SimulatedNode;
let nodeB: SimulatedNode;
let gpuA: string;
let gpuB: string;

const h100 = { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' } as const;
const nrasGpu = { index: 0, driverVersion: '580.173.02', vbiosVersion: '96.00.CF.00.01' };

beforeAll(async () => {
  nras = await createFakeNras();
  supergraph = await startTestSupergraph({
    RATE_LIMIT_FREE: pollingRateLimit,
    NRAS_JWKS: JSON.stringify(nras.jwks),
    ATTESTATION_NONCE_TTL_SECONDS: '2',
    ATTESTATION_EVIDENCE_MAX_BYTES: '65536',
  });
  [tenantA, tenantB] = await Promise.all([
    signUp(supergraph, 'bad-in-a'),
    signUp(supergraph, 'bad-in-b'),
  ]);
  [keyA, keyB] = await Promise.all([
    createApiKey(supergraph, tenantA.accessToken, 'OPERATOR'),
    createApiKey(supergraph, tenantB.accessToken, 'OPERATOR'),
  ]);
  nodeA = await enrollSimulatedNode(supergraph, keyA, 'bad-input-a', [h100]);
  nodeB = await enrollSimulatedNode(supergraph, keyB, 'bad-input-b', [h100]);
  gpuA = nodeA.source.gpuUuids[0] ?? '';
  gpuB = nodeB.source.gpuUuids[0] ?? '';
}, 120_000);

afterAll(async () => {
  await nodeA?.agent.stop();
  await nodeB?.agent.stop();
  await supergraph?.stop();
});

/** Submits with a fresh challenge and an NRAS result built by `issue`, and waits for the end. */
async function submitWithNras(
  issue: (nonce: string) => Promise<string>,
  nonce?: string,
): Promise<AttestationView> {
  const challenge = nonce ?? (await requestChallenge(supergraph, keyA, gpuA));
  const nrasToken = await issue(challenge);
  const submitted = await submitAttestation(supergraph, keyA, {
    gpuUuid: gpuA,
    nonce: challenge,
    nrasToken,
  });
  return waitForFinal(supergraph, keyA, submitted.id);
}

function claim(view: AttestationView, name: string) {
  const found = view.claims.find((c) => c.name === name);
  if (!found) throw new Error(`no ${name} claim in ${JSON.stringify(view.claims)}`);
  return found;
}

describe(`bad attestation input is refused with a precise reason (${backends.database})`, () => {
  it.each([
    [
      'a forged NRAS result (a key NRAS never published, under its kid)',
      { signWith: 'stranger' as const },
      /signature/i,
    ],
    ['an expired NRAS result', { expiresInSeconds: -600 }, /expired/i],
    ['an NRAS result under an unknown kid', { kid: 'not-an-nras-key' }, /not-an-nras-key/],
    [
      'detached tokens that do not match the submods digest',
      { tamperDetached: true },
      /digest|SHA-256/i,
    ],
  ])('%s → FAILED, recorded on the attestation', async (_label, options, reason) => {
    const view = await submitWithNras((nonce) =>
      nras.issue({ nonce, gpus: [nrasGpu], ...options }),
    );
    expect(view.status).toBe('FAILED');
    expect(view.verdict).toBe('CONTRAINDICATED');
    const nrasClaim = claim(view, 'nras-signature');
    expect(nrasClaim.passed).toBe(false);
    expect(nrasClaim.reason).toMatch(reason);
    expect(view.error).toMatch(reason);
    // A result that failed is still signed: a relying party can see why.
    expect(view.token).toBeTruthy();
  });

  it.each(['HS256', 'none'] as const)(
    'alg confusion (%s) → FAILED naming the algorithm',
    async (alg) => {
      const view = await submitWithNras((nonce) => nras.issueWithAlgorithm(alg, nonce));
      expect(view.status).toBe('FAILED');
      expect(claim(view, 'nras-signature').reason).toContain(alg);
    },
  );

  it('an NRAS result for another nonce → FAILED, nonce mismatch named', async () => {
    const other = await requestChallenge(supergraph, keyA, gpuA);
    const view = await submitWithNras(() => nras.issue({ nonce: other, gpus: [nrasGpu] }));
    expect(view.status).toBe('FAILED');
    expect(claim(view, 'nras-signature').reason).toMatch(/nonce/i);
  });

  it('a replayed nonce → the second attestation FAILED, naming the first', async () => {
    const nonce = await requestChallenge(supergraph, keyA, gpuA);
    const first = await submitAttestation(supergraph, keyA, { gpuUuid: gpuA, nonce });
    const replay = await submitAttestation(supergraph, keyA, { gpuUuid: gpuA, nonce });
    expect((await waitForFinal(supergraph, keyA, first.id)).status).toBe('VERIFIED');
    const failed = await waitForFinal(supergraph, keyA, replay.id);
    expect(failed.status).toBe('FAILED');
    expect(claim(failed, 'nonce').reason).toContain(first.id);
    expect(claim(failed, 'nonce').reason).toMatch(/replay/);
  });

  it('an expired nonce → FAILED with the expiry time', async () => {
    const nonce = await requestChallenge(supergraph, keyA, gpuA);
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    const submitted = await submitAttestation(supergraph, keyA, { gpuUuid: gpuA, nonce });
    const failed = await waitForFinal(supergraph, keyA, submitted.id);
    expect(failed.status).toBe('FAILED');
    expect(claim(failed, 'nonce').reason).toMatch(/expired at \d{4}-/);
  });

  it('a nonce never issued → FAILED', async () => {
    const submitted = await submitAttestation(supergraph, keyA, {
      gpuUuid: gpuA,
      nonce: 'ab'.repeat(32),
    });
    const failed = await waitForFinal(supergraph, keyA, submitted.id);
    expect(claim(failed, 'nonce').reason).toMatch(/not issued/);
  });

  it("another tenant's GPU → NOT_FOUND, for challenges and submissions, and nothing is stored", async () => {
    const challenge = await supergraph.graphql(
      'mutation($g: ID!) { requestAttestationChallenge(gpuUuid: $g) { nonce } }',
      { g: gpuB },
      keyA,
    );
    expect(errorCode(challenge)).toBe('NOT_FOUND');
    const submit = await supergraph.graphql(
      'mutation($i: SubmitHardwareAttestationInput!) { submitHardwareAttestation(input: $i) { id } }',
      { i: { gpuUuid: gpuB } },
      keyA,
    );
    expect(errorCode(submit)).toBe('NOT_FOUND');
    const listed = await supergraph.graphql<{
      hardwareAttestations: { edges: unknown[] };
    }>('{ hardwareAttestations(first: 50) { edges { cursor } } }', {}, keyB);
    expect(listed.data?.hardwareAttestations.edges).toEqual([]);
  });

  it("evidence describing another tenant's GPU, submitted for one's own → FAILED naming both", async () => {
    const nonce = await requestChallenge(supergraph, keyA, gpuA);
    const evidence = {
      nonce,
      collectedAt: new Date().toISOString(),
      node: { id: null, hostname: 'x', driverVersion: '580.173.02', cudaVersion: '13.0' },
      gpu: {
        uuid: gpuB,
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        serial: null,
        vbiosVersion: '96.00.CF.00.01',
        pciBusId: null,
        architecture: 'Hopper',
        memoryTotalMiB: 81559,
        eccEnabled: true,
        eccErrors: null,
        retiredPages: null,
        remappedRows: null,
        migMode: { current: false, pending: false },
        migInstances: [],
        confidentialComputeMode: 'ON',
      },
    };
    const submitted = await submitAttestation(supergraph, keyA, { gpuUuid: gpuA, evidence });
    const failed = await waitForFinal(supergraph, keyA, submitted.id);
    expect(failed.status).toBe('FAILED');
    const format = claim(failed, 'evidence-format');
    expect(format.reason).toContain(gpuB);
    expect(format.reason).toContain(gpuA);
  });

  it('malformed evidence → FAILED with the offending fields', async () => {
    const nonce = await requestChallenge(supergraph, keyA, gpuA);
    const submitted = await submitAttestation(supergraph, keyA, {
      gpuUuid: gpuA,
      evidence: { nonce, gpu: 'an H100, trust me' },
    });
    const failed = await waitForFinal(supergraph, keyA, submitted.id);
    expect(failed.status).toBe('FAILED');
    expect(claim(failed, 'evidence-format').reason).toMatch(/gpu/);
  });

  it('an NRAS result that is not JSON → FAILED, "format"', async () => {
    const view = await submitWithNras(() => Promise.resolve('[["JWT", "eyJ'));
    expect(view.status).toBe('FAILED');
    expect(claim(view, 'nras-signature').reason).toMatch(/JSON|format/i);
  });

  it('evidence over the size limit → BAD_USER_INPUT with the sizes; 10 MB → 413 at the door', async () => {
    const big = await supergraph.graphql(
      'mutation($i: SubmitHardwareAttestationInput!) { submitHardwareAttestation(input: $i) { id } }',
      { i: { gpuUuid: gpuA, evidence: { padding: 'x'.repeat(100_000) } } },
      keyA,
    );
    expect(errorCode(big)).toBe('BAD_USER_INPUT');
    expect(big.errors?.[0]?.message).toMatch(/evidence is \d+ bytes; the limit is 65536/);

    const huge = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keyA}` },
      body: JSON.stringify({
        query:
          'mutation($i: SubmitHardwareAttestationInput!) { submitHardwareAttestation(input: $i) { id } }',
        variables: { i: { gpuUuid: gpuA, evidence: { padding: 'x'.repeat(10 * 1024 * 1024) } } },
      }),
    });
    expect(huge.status).toBe(413);
  });

  it('a malformed request body → 400 with a parse error, and in-flight work is unaffected', async () => {
    const submitted = await submitAttestation(supergraph, keyA, { gpuUuid: gpuA });
    const garbage = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keyA}` },
      body: '{"query": "mutation { submitHardwareAttestation(input: {gpuUuid: ',
    });
    expect(garbage.status).toBe(400);
    expect((await waitForFinal(supergraph, keyA, submitted.id)).status).toBe('VERIFIED');
  });
});
