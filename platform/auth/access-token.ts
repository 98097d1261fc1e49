import { decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { unauthenticated, type DomainError } from '../errors.ts';
import type { Principal } from './principal.ts';
import { isRole, isTier } from './roles.ts';

export const accessTokenType = 'at+jwt';
export const accessTokenAlgorithms = ['ES256', 'EdDSA'];
/** API.md: access tokens live at most 15 minutes; a longer-lived one was not issued by us. */
export const maxAccessTokenLifetimeSeconds = 900;

export interface AccessTokenVerifierOptions {
  /** Resolves the verification key by `kid`: a remote JWKS (cached per key) or the local key set. */
  keys: JWTVerifyGetKey;
  issuer: string;
  audience: string;
  /** Clock skew tolerated on `exp`/`iat`, seconds. */
  clockToleranceSeconds?: number;
  /** Verified tokens remembered (exact token string → principal) until they expire; 0 disables. */
  cacheSize?: number;
}

export type AccessTokenVerifier = (token: string) => Promise<Principal>;

/**
 * Verifies LotaBots access tokens (RFC 9068 style JWTs). Each failure becomes UNAUTHENTICATED with
 * a message that says what was wrong with the token, never what the server expected in detail.
 */
export function createAccessTokenVerifier(
  options: AccessTokenVerifierOptions,
): AccessTokenVerifier {
  const verify = verifyUncached(options);
  const capacity = options.cacheSize ?? 10_000;
  if (capacity === 0) return verify;
  // A dashboard or script sends the same token on every request for up to 15 minutes. Checking
  // the ES256/EdDSA signature once per token instead of once per request takes verification off
  // the hot path; entries are exact token strings and leave the cache when the token expires.
  // A hit still asks the key set for the token's key (a map lookup), so a key withdrawn from the
  // JWKS stops its tokens at once here and, for remote key sets, within their cache age.
  const cache = new Map<string, { principal: Principal; header: { alg: string; kid?: string } }>();
  const noToken = { payload: '', signature: '' };
  return async (token) => {
    const hit = cache.get(token);
    if (hit) {
      const keyStillPublished = await Promise.resolve(options.keys(hit.header, noToken)).then(
        () => true,
        () => false,
      );
      if (keyStillPublished && hit.principal.expiresAt.getTime() > Date.now()) return hit.principal;
      cache.delete(token);
    }
    const principal = await verify(token);
    if (cache.size >= capacity) cache.delete(cache.keys().next().value as string);
    const { alg, kid } = decodeProtectedHeader(token);
    cache.set(token, { principal, header: { alg: alg ?? '', ...(kid ? { kid } : {}) } });
    return principal;
  };
}

function verifyUncached(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  return async (token) => {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, options.keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: accessTokenAlgorithms,
        typ: accessTokenType,
        clockTolerance: options.clockToleranceSeconds ?? 5,
        requiredClaims: ['sub', 'org', 'role', 'tier', 'exp', 'iat', 'jti'],
      }));
    } catch (error) {
      throw describeJoseError(error);
    }
    const { sub, org, role, tier, jti, exp, iat } = payload as Record<string, unknown>;
    if (typeof sub !== 'string' || typeof org !== 'string' || typeof jti !== 'string') {
      throw unauthenticated('Access token has malformed claims');
    }
    if (!isRole(role) || !isTier(tier))
      throw unauthenticated('Access token has an unknown role or tier');
    if (
      typeof exp !== 'number' ||
      typeof iat !== 'number' ||
      exp - iat > maxAccessTokenLifetimeSeconds
    ) {
      throw unauthenticated('Access token lifetime exceeds 15 minutes');
    }
    const apiKeyId = sub.startsWith('apikey:') ? sub.slice('apikey:'.length) : null;
    return {
      subject: sub,
      userId: apiKeyId ? null : sub,
      apiKeyId,
      organizationId: org,
      role,
      tier,
      tokenId: jti,
      expiresAt: new Date(exp * 1000),
    };
  };
}

function describeJoseError(error: unknown): DomainError {
  if (error instanceof errors.JWTExpired) return unauthenticated('Access token expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (claim === 'aud') return unauthenticated('Access token audience is not accepted');
    if (claim === 'iss') return unauthenticated('Access token issuer is not accepted');
    if (claim === 'typ') return unauthenticated('Token is not an access token');
    if (claim === 'iat' || claim === 'nbf') return unauthenticated('Access token is not valid yet');
    return unauthenticated(`Access token claim "${claim}" is missing or invalid`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return unauthenticated('Access token algorithm is not allowed');
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return unauthenticated('Access token signature is invalid');
  if (error instanceof errors.JWKSNoMatchingKey)
    return unauthenticated('Access token was signed by an unknown key');
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    // The caller's token may be fine; our key source is not. Still UNAUTHENTICATED for the caller,
    // but with a message that does not blame them.
    return unauthenticated('Access token could not be verified right now; try again');
  }
  if (
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JOSENotSupported
  ) {
    return unauthenticated('Access token is malformed');
  }
  return unauthenticated('Access token is invalid');
}

/** Extracts the bearer credential from an Authorization header; null when there is none. */
export function bearerCredential(header: string | undefined): string | null {
  if (header === undefined || header.trim() === '') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthenticated('Authorization header must be "Bearer <token>"');
  return match[1];
}
