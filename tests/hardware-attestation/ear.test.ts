import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
} from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildEarClaims,
  EAR_PROFILE,
  signEar,
  verifyEar,
} from '../../subgraphs/hardware-attestation/domain/ear.ts';
import type { Appraisal } from '../../subgraphs/hardware-attestation/domain/policy.ts';

function appraisal(status: Appraisal['status'], overrides: Partial<Appraisal> = {}): Appraisal {
  const value = status === 'contraindicated' ? 96 : status === 'warning' ? 32 : 2;
  return {
    policyId: 'lotabots/nvidia-gpu-default',
    policyVersion: 1,
    status,
    claims: [
      {
        name: 'driver-version',
        description: 'Driver version is allowed by the reference values',
        trustClaim: 'configuration',
        passed: status === 'affirming',
        status,
        expected: '>= 550.54.14',
        actual: '580.173.02',
        reason: status === 'affirming' ? null : 'denied',
      },
    ],
    trustVector: {
      'instance-identity': 2,
      configuration: value,
      executables: 0,
      'file-system': 0,
      hardware: 2,
      'runtime-opaque': 0,
      'storage-opaque': 0,
      'sourced-data': 0,
    },
    referenceValueId: null,
    referenceValueVersion: null,
    ...overrides,
  };
}

const claims = () =>
  buildEarClaims({
    verifierId: { developer: 'https://lotabots.dev', build: 'lotabots 0.1.0' },
    nonce: 'ab'.repeat(32),
    issuedAt: 1_748_779_200,
    submods: {
      'GPU-0': { gpuUuid: 'GPU-aaaa', appraisal: appraisal('affirming') },
      'GPU-1': { gpuUuid: 'GPU-bbbb', appraisal: appraisal('warning') },
    },
    attestationId: 'att_1',
    organizationId: 'org_1',
  });

let key: { kid: string; alg: string; privateKey: CryptoKey };
let jwks: ReturnType<typeof createLocalJWKSet>;
let otherKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  key = { kid: 'ear-1', alg: 'ES256', privateKey: pair.privateKey };
  otherKey = other.privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'ear-1', alg: 'ES256' };
  jwks = createLocalJWKSet({ keys: [jwk] });
});

describe('EAR claims', () => {
  it('follow the EAR profile with AR4SI vectors per submodule', () => {
    const payload = claims();
    expect(payload.eat_profile).toBe(EAR_PROFILE);
    expect(payload.iat).toBe(1_748_779_200);
    expect(payload.eat_nonce).toBe('ab'.repeat(32));
    expect(payload['ear.verifier-id']).toEqual({
      developer: 'https://lotabots.dev',
      build: 'lotabots 0.1.0',
    });
    expect(payload['x-lotabots-attestation-id']).toBe('att_1');
    expect(payload['x-lotabots-organization-id']).toBe('org_1');
    const submods = payload.submods as Record<string, Record<string, unknown>>;
    expect(submods['GPU-1']).toEqual({
      'ear.status': 'warning',
      // 0 ("no claim") entries are left out, as Veraison does.
      'ear.trustworthiness-vector': { 'instance-identity': 2, configuration: 32, hardware: 2 },
      'ear.appraisal-policy-id': 'lotabots/nvidia-gpu-default@1',
      'x-lotabots-claims': [
        {
          name: 'driver-version',
          passed: false,
          status: 'warning',
          expected: '>= 550.54.14',
          actual: '580.173.02',
          reason: 'denied',
        },
      ],
      'x-lotabots-gpu-uuid': 'GPU-bbbb',
    });
  });

  it('omit eat_nonce without a nonce', () => {
    const payload = buildEarClaims({
      verifierId: { developer: 'd', build: 'b' },
      nonce: null,
      issuedAt: 1,
      submods: {},
      attestationId: 'a',
      organizationId: 'o',
    });
    expect('eat_nonce' in payload).toBe(false);
  });
});

describe('signed EARs', () => {
  it('verify with the published key and report the worst status', async () => {
    const token = await signEar(claims(), key);
    const verified = await verifyEar(token, jwks);
    expect(verified).toMatchObject({ valid: true, reason: null, kid: 'ear-1', status: 'warning' });
    expect(verified.claims?.eat_profile).toBe(EAR_PROFILE);
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as object;
    expect(header).toEqual({ alg: 'ES256', kid: 'ear-1', typ: 'JWT' });
  });

  it('reject a tampered token', async () => {
    const token = await signEar(claims(), key);
    const [header, , signature] = token.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...claims(), 'x-lotabots-organization-id': 'org_evil' }),
    ).toString('base64url');
    const verified = await verifyEar(`${header}.${forged}.${signature}`, jwks);
    expect(verified).toMatchObject({ valid: false, claims: null, status: null });
    expect(verified.reason).toMatch(/signature does not verify/);
  });

  it('reject a token signed by another key', async () => {
    const token = await signEar(claims(), { ...key, privateKey: otherKey });
    const verified = await verifyEar(token, jwks);
    expect(verified.valid).toBe(false);
    expect(verified.reason).toMatch(/signature does not verify/);
    expect(verified.kid).toBe('ear-1');
  });

  it('reject an HS256 token', async () => {
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256', kid: 'ear-1' })
      .sign(new TextEncoder().encode('x'.repeat(32)));
    const verified = await verifyEar(token, jwks);
    expect(verified.valid).toBe(false);
    expect(verified.reason).toMatch(/algorithm is not allowed/);
  });

  it('reject another profile and garbage without throwing', async () => {
    const other = await signEar({ ...claims(), eat_profile: 'tag:example.com,2024:other' }, key);
    expect((await verifyEar(other, jwks)).reason).toMatch(/eat_profile/);
    for (const garbage of ['', 'not-a-jwt', 'a.b.c', '..']) {
      const verified = await verifyEar(garbage, jwks);
      expect(verified.valid).toBe(false);
      expect(verified.reason).toBeTruthy();
    }
  });
});
