import {
  decodeProtectedHeader,
  errors,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { TRUST_CLAIMS, worstStatus, type Appraisal, type EarStatus } from './policy.ts';

/**
 * EAR: EAT Attestation Results (draft-fv-rats-ear), the signed attestation result format Veraison
 * emits. One submodule per appraised GPU carries its status, AR4SI trustworthiness vector and the
 * policy that produced it; `x-lotabots-*` claims add the per-rule detail.
 */

export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';

/** Algorithms an EAR may be signed with. */
export const EAR_ALGORITHMS = ['ES256', 'ES384'];

const STATUSES: readonly string[] = ['affirming', 'warning', 'contraindicated', 'none'];

export interface EarSubmodule {
  gpuUuid: string;
  appraisal: Appraisal;
}

export function buildEarClaims(input: {
  verifierId: { developer: string; build: string };
  nonce: string | null;
  /** Seconds since the epoch. */
  issuedAt: number;
  submods: Record<string, EarSubmodule>;
  attestationId: string;
  organizationId: string;
}): JWTPayload {
  const submods: Record<string, unknown> = {};
  for (const [key, { gpuUuid, appraisal }] of Object.entries(input.submods)) {
    // Veraison leaves "no claim" (0) entries out of the vector.
    const vector: Record<string, number> = {};
    for (const claim of TRUST_CLAIMS) {
      const value = appraisal.trustVector[claim];
      if (value !== 0) vector[claim] = value;
    }
    submods[key] = {
      'ear.status': appraisal.status,
      'ear.trustworthiness-vector': vector,
      'ear.appraisal-policy-id': `${appraisal.policyId}@${appraisal.policyVersion}`,
      'x-lotabots-claims': appraisal.claims.map((c) => ({
        name: c.name,
        passed: c.passed,
        status: c.status,
        expected: c.expected,
        actual: c.actual,
        reason: c.reason,
      })),
      'x-lotabots-gpu-uuid': gpuUuid,
    };
  }
  return {
    eat_profile: EAR_PROFILE,
    iat: Math.floor(input.issuedAt),
    'ear.verifier-id': { developer: input.verifierId.developer, build: input.verifierId.build },
    ...(input.nonce !== null ? { eat_nonce: input.nonce } : {}),
    submods,
    'x-lotabots-attestation-id': input.attestationId,
    'x-lotabots-organization-id': input.organizationId,
  };
}

/** Signs EAR claims as a compact JWS with header { alg, kid, typ: 'JWT' }. */
export function signEar(
  claims: JWTPayload,
  key: { kid: string; alg: string; privateKey: CryptoKey },
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

export interface VerifiedEar {
  valid: boolean;
  /** Why the token is not a valid EAR; null when it is. */
  reason: string | null;
  claims: JWTPayload | null;
  kid: string | null;
  /** Worst `ear.status` over the submodules. */
  status: EarStatus | null;
}

function invalid(reason: string, kid: string | null = null): VerifiedEar {
  return { valid: false, reason, claims: null, kid, status: null };
}

function joseReason(error: unknown): string {
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return `signing algorithm is not allowed (only ${EAR_ALGORITHMS.join(', ')})`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no verification key matches the token';
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return 'several verification keys match the token';
  }
  if (error instanceof errors.JWTExpired) return 'the EAR has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    return `claim "${error.claim}" is invalid: ${error.message}`;
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return `not a valid signed EAR: ${error.message}`;
  }
  return `cannot be verified: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Verifies a signed EAR: ES256/ES384 signature by one of `keys`, the EAR profile and the shape of
 * its submodules. Never throws: a bad token answers `valid: false` with the reason.
 */
export async function verifyEar(token: string, keys: JWTVerifyGetKey): Promise<VerifiedEar> {
  if (typeof token !== 'string' || token.length === 0) return invalid('the EAR is empty');
  if (token.length > 1_000_000) return invalid('the EAR is too large');
  let kid: string | null = null;
  try {
    const header = decodeProtectedHeader(token);
    kid = typeof header.kid === 'string' ? header.kid : null;
  } catch {
    return invalid('not a compact JWS (its protected header cannot be decoded)');
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys, { algorithms: EAR_ALGORITHMS }));
  } catch (error) {
    return invalid(joseReason(error), kid);
  }
  if (payload.eat_profile !== EAR_PROFILE) {
    return invalid(
      `eat_profile is ${JSON.stringify(payload.eat_profile)}, not ${EAR_PROFILE}`,
      kid,
    );
  }
  if (typeof payload.iat !== 'number') return invalid('the EAR has no iat', kid);
  const submods = payload.submods;
  if (typeof submods !== 'object' || submods === null || Array.isArray(submods)) {
    return invalid('the EAR has no submods', kid);
  }
  const statuses: EarStatus[] = [];
  for (const [key, submod] of Object.entries(submods as Record<string, unknown>)) {
    const status =
      typeof submod === 'object' && submod !== null
        ? (submod as Record<string, unknown>)['ear.status']
        : undefined;
    if (typeof status !== 'string' || !STATUSES.includes(status)) {
      return invalid(`submodule ${JSON.stringify(key)} has no valid ear.status`, kid);
    }
    statuses.push(status as EarStatus);
  }
  return { valid: true, reason: null, claims: payload, kid, status: worstStatus(statuses) };
}
