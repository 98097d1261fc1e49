import type { TestSupergraph } from './supergraph.ts';

/**
 * RATE_LIMIT_FREE for suites that poll attestations until they finish: the free tier's 1,000
 * requests a minute is a real limit those polls would hit, and the suites test attestation.
 */
export const pollingRateLimit = '100000';

/** The fields the attestation tests read back. */
export interface AttestationView {
  id: string;
  status: string;
  verdict: string | null;
  token: string | null;
  error: string | null;
  reportUrl: string | null;
  policy: string | null;
  trigger: string;
  claims: {
    name: string;
    passed: boolean;
    status: string;
    trustClaim: string;
    expected: string | null;
    actual: string | null;
    reason: string | null;
  }[];
}

export const attestationFields = /* GraphQL */ `
  fragment AttestationFields on HardwareAttestation {
    id
    status
    verdict
    token
    error
    reportUrl
    policy
    trigger
    claims {
      name
      passed
      status
      trustClaim
      expected
      actual
      reason
    }
  }
`;

export async function requestChallenge(
  supergraph: TestSupergraph,
  credential: string,
  gpuUuid: string,
): Promise<string> {
  const result = await supergraph.graphql<{ requestAttestationChallenge: { nonce: string } }>(
    'mutation($g: ID!) { requestAttestationChallenge(gpuUuid: $g) { nonce expiresAt } }',
    { g: gpuUuid },
    credential,
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.requestAttestationChallenge.nonce;
}

export async function submitAttestation(
  supergraph: TestSupergraph,
  credential: string,
  input: Record<string, unknown>,
): Promise<AttestationView> {
  const result = await supergraph.graphql<{ submitHardwareAttestation: AttestationView }>(
    `mutation($i: SubmitHardwareAttestationInput!) {
      submitHardwareAttestation(input: $i) { ...AttestationFields }
    }
    ${attestationFields}`,
    { i: input },
    credential,
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.submitHardwareAttestation;
}

export async function readAttestation(
  supergraph: TestSupergraph,
  credential: string,
  id: string,
): Promise<AttestationView | null> {
  const result = await supergraph.graphql<{ hardwareAttestation: AttestationView | null }>(
    `query($id: ID!) { hardwareAttestation(id: $id) { ...AttestationFields } } ${attestationFields}`,
    { id },
    credential,
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.hardwareAttestation;
}

/** Polls until the attestation reaches a final status (VERIFIED, FAILED or ERROR). */
export async function waitForFinal(
  supergraph: TestSupergraph,
  credential: string,
  id: string,
  timeoutMs = 20_000,
): Promise<AttestationView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await readAttestation(supergraph, credential, id);
    if (view && ['VERIFIED', 'FAILED', 'ERROR'].includes(view.status)) return view;
    if (Date.now() > deadline)
      throw new Error(`attestation ${id} still ${view?.status ?? 'missing'} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
