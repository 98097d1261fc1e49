import { createHash, createPublicKey, KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from 'jose';

/**
 * Verification of NVIDIA Remote Attestation Service (NRAS) results: the JSON array
 * `[["JWT", <overall token>], {"GPU-0": <detached token>, …}]` that
 * https://nras.attestation.nvidia.com/v3/attest/gpu answers. The overall token binds the detached
 * per-GPU tokens by their SHA-256 in `submods`, so every token is checked on its own and the
 * digests tie them together.
 */

export const NRAS_ISSUER = 'https://nras.attestation.nvidia.com';

const GPU_CLAIM_PREFIX = 'x-nvidia-gpu-';

/**
 * The boolean per-GPU claims NRAS documents. Listed so that a check NRAS dropped shows up as
 * `null` rather than silently disappearing from `checks`.
 */
export const NRAS_GPU_CHECKS = [
  'arch-check',
  'attestation-report-cert-chain-validated',
  'attestation-report-parsed',
  'attestation-report-nonce-match',
  'attestation-report-signature-verified',
  'driver-rim-fetched',
  'driver-rim-schema-validated',
  'driver-rim-cert-validated',
  'driver-rim-signature-verified',
  'driver-rim-measurements-available',
  'vbios-rim-fetched',
  'vbios-rim-schema-validated',
  'vbios-rim-cert-validated',
  'vbios-rim-signature-verified',
  'vbios-rim-measurements-available',
  'vbios-index-no-conflict',
] as const;

export interface NrasGpuResult {
  /** Submodule key as NRAS names it, e.g. "GPU-0" (the GPU's index on its node). */
  key: string;
  /** Parsed from "GPU-<n>"; null when the key has another form. */
  index: number | null;
  measres: string | null;
  secboot: boolean | null;
  dbgstat: string | null;
  /** `x-nvidia-gpu-driver-version`. */
  driverVersion: string | null;
  /** `x-nvidia-gpu-vbios-version`. */
  vbiosVersion: string | null;
  hwmodel: string | null;
  ueid: string | null;
  /** Every boolean x-nvidia-gpu-* claim, by claim name without the "x-nvidia-gpu-" prefix (e.g. "driver-rim-signature-verified"): value or null when absent. */
  checks: Record<string, boolean | null>;
}

export interface NrasFailure {
  /** Stable machine name: 'format' | 'signature' | 'algorithm' | 'key' | 'key-unavailable' (the key set could not be fetched: retry) | 'certificate-chain' | 'expired' | 'not-yet-valid' | 'issuer' | 'nonce' | 'submods-digest' | 'submods-missing' | 'claims' */
  check: string;
  /** Which token: 'overall' or the submodule key ("GPU-0"). */
  token: string;
  /** Precise human reason, e.g. 'GPU-0: SHA-256 of the detached token (ab12…) does not match the overall token\'s submods digest (cd34…)'. Never includes whole tokens. */
  reason: string;
}

export interface NrasVerification {
  /** True when every signature, chain, time, issuer, nonce and digest check passed (claims themselves are judged by the appraisal policy, not here). */
  verified: boolean;
  failures: NrasFailure[];
  /**
   * The overall token's claims (times in seconds since the epoch, as in the JWT); null when the
   * token could not be read or its signature did not verify.
   */
  overall: {
    result: boolean | null;
    issuer: string | null;
    issuedAt: number | null;
    expiresAt: number | null;
    kid: string | null;
    nonce: string | null;
  } | null;
  /**
   * One entry per detached token that was signed by an NRAS key (even when it is stale, carries
   * another nonce or fails its digest: `failures` says so), ordered by GPU index. Tokens whose
   * signature did not verify are left out, so forged claims never reach the appraisal.
   */
  gpus: NrasGpuResult[];
}

export interface NrasVerifierOptions {
  /** Keys NRAS publishes (createLocalJWKSet / createRemoteJWKSet). */
  keys: JWTVerifyGetKey;
  /** When set, tokens must carry `x5c` and the chain must verify up to one of these roots; the leaf's public key must also be the key `kid` selects. */
  rootCertificates?: X509Certificate[];
  /** Expected `iss`; default "https://nras.attestation.nvidia.com". */
  issuer?: string;
  /** Default 60. */
  clockToleranceSeconds?: number;
  /** For tests. */
  now?: () => Date;
  /** Refuse larger inputs (bytes of the raw string) with a 'format' failure; default 64 KiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024;
const MAX_CHAIN_LENGTH = 10;
// NRAS names submodules "GPU-<n>"; anything outside this alphabet would only end up in reasons
// and logs, so it is refused as malformed instead.
const SUBMOD_KEY = /^[A-Za-z0-9_.:-]{1,64}$/;

type Failures = NrasFailure[];

interface TokenOutcome {
  header: ProtectedHeaderParameters | null;
  /** Claims whose signature verified (possibly failing time, issuer or nonce checks). */
  payload: JWTPayload | null;
}

/**
 * Verifies an NRAS result against the nonce the relying party sent: every token's ES384
 * signature (and, with `rootCertificates`, its x5c chain), validity times, issuer and `eat_nonce`,
 * and the overall token's `submods` digests of the detached tokens.
 *
 * Never throws on bad input: every problem becomes a failure with a precise reason.
 */
export async function verifyNrasResult(
  raw: string,
  expectedNonce: string,
  options: NrasVerifierOptions,
): Promise<NrasVerification> {
  try {
    return await verify(raw, expectedNonce, options);
  } catch (error) {
    // Every expected problem is recorded where it happens; this only keeps the promise that a
    // caller never has to guard against a throw (e.g. a `now` or `keys` option that misbehaves).
    const message = error instanceof Error ? error.message : String(error);
    return {
      verified: false,
      failures: [
        { check: 'format', token: 'overall', reason: `NRAS result cannot be verified: ${message}` },
      ],
      overall: null,
      gpus: [],
    };
  }
}

async function verify(
  raw: string,
  expectedNonce: string,
  options: NrasVerifierOptions,
): Promise<NrasVerification> {
  const failures: Failures = [];
  const parsed = parseResult(raw, options.maxBytes ?? DEFAULT_MAX_BYTES, failures);
  if (!parsed) return { verified: false, failures, overall: null, gpus: [] };

  const context: VerifyContext = {
    options,
    expectedNonce,
    issuer: options.issuer ?? NRAS_ISSUER,
    now: (options.now ?? (() => new Date()))(),
    tolerance: options.clockToleranceSeconds ?? 60,
  };
  // Detached tokens are verified independently of each other and of the overall token, so one
  // bad token never hides what the others say.
  const [overall, detached] = await Promise.all([
    verifyToken('overall', parsed.overall, context),
    Promise.all(parsed.detached.map(([key, token]) => verifyToken(key, token, context))),
  ]);
  failures.push(...overall.failures);
  for (const outcome of detached) failures.push(...outcome.failures);

  if (overall.payload) checkSubmods(overall.payload, parsed.detached, failures);

  const gpus: NrasGpuResult[] = [];
  parsed.detached.forEach(([key], i) => {
    const payload = detached[i]?.payload;
    if (payload) gpus.push(gpuResult(key, payload));
  });
  gpus.sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity) || a.key.localeCompare(b.key));

  return {
    verified: failures.length === 0,
    failures,
    overall: overall.payload
      ? {
          result: booleanClaim(overall.payload['x-nvidia-overall-att-result']),
          issuer: stringClaim(overall.payload.iss),
          issuedAt: numberClaim(overall.payload.iat),
          expiresAt: numberClaim(overall.payload.exp),
          kid: overall.header?.kid ?? null,
          nonce: stringClaim(overall.payload.eat_nonce),
        }
      : null,
    gpus,
  };
}

interface ParsedResult {
  overall: string;
  detached: [string, string][];
}

function parseResult(raw: unknown, maxBytes: number, failures: Failures): ParsedResult | null {
  const fail = (reason: string) => {
    failures.push({ check: 'format', token: 'overall', reason });
    return null;
  };
  if (typeof raw !== 'string') return fail(`NRAS result must be a string, got ${describe(raw)}`);
  // Measured before parsing so that a huge body costs nothing beyond this count.
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes > maxBytes) {
    return fail(`NRAS result is ${bytes} bytes, over the ${maxBytes}-byte limit`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    // JSON.parse's message quotes the input, which may be a token.
    return fail('NRAS result is not valid JSON');
  }
  const expected = 'expected [["JWT", <overall token>], {"GPU-0": <detached token>, …}]';
  if (!Array.isArray(value)) return fail(`NRAS result is ${describe(value)}; ${expected}`);
  if (value.length !== 2) {
    return fail(`NRAS result is an array of ${value.length} elements; ${expected}`);
  }
  const [head, submods] = value as [unknown, unknown];
  if (!Array.isArray(head) || head.length !== 2 || head[0] !== 'JWT') {
    return fail(`NRAS result's first element is not ["JWT", <overall token>]; ${expected}`);
  }
  if (typeof head[1] !== 'string') {
    return fail(`the overall token is ${describe(head[1])}, not a string`);
  }
  if (!isRecord(submods)) {
    return fail(`NRAS result's second element is ${describe(submods)}; ${expected}`);
  }
  const detached: [string, string][] = [];
  for (const [key, token] of Object.entries(submods)) {
    if (!SUBMOD_KEY.test(key)) {
      return fail(`detached token key ${quote(key)} is not a submodule name like "GPU-0"`);
    }
    if (typeof token !== 'string') {
      return fail(`detached token ${key} is ${describe(token)}, not a string`);
    }
    detached.push([key, token]);
  }
  return { overall: head[1], detached };
}

interface VerifyContext {
  options: NrasVerifierOptions;
  expectedNonce: string;
  issuer: string;
  now: Date;
  tolerance: number;
}

async function verifyToken(
  name: string,
  token: string,
  context: VerifyContext,
): Promise<TokenOutcome & { failures: Failures }> {
  const failures: Failures = [];
  const label = name === 'overall' ? 'overall token' : name;
  const fail = (check: string, reason: string) => {
    failures.push({ check, token: name, reason: `${label}: ${reason}` });
  };

  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    fail('format', 'not a compact JWS (its protected header cannot be decoded)');
    return { header: null, payload: null, failures };
  }

  let chain: X509Certificate | null = null;
  if (context.options.rootCertificates) {
    try {
      chain = checkChain(header, context.options.rootCertificates, context, fail);
    } catch (error) {
      // X509Certificate.verify throws on key types it cannot handle instead of answering false.
      const message = error instanceof Error ? error.message : String(error);
      fail('certificate-chain', `x5c chain cannot be checked: ${message}`);
    }
  }

  // Wrapping the key lookup keeps hold of the key `kid` selected even when jwtVerify later
  // rejects the claims, so the x5c leaf can still be compared with it.
  const resolved: { key?: Awaited<ReturnType<JWTVerifyGetKey>> } = {};
  const getKey: JWTVerifyGetKey = async (protectedHeader, jws) =>
    (resolved.key = await context.options.keys(protectedHeader, jws));

  let payload: JWTPayload | null = null;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: ['ES384'],
      issuer: context.issuer,
      requiredClaims: ['iss', 'iat', 'exp'],
      clockTolerance: context.tolerance,
      currentDate: context.now,
    }));
  } catch (error) {
    // Claim errors are raised only after the signature verified, so their claims are NRAS's.
    if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired) {
      payload = error.payload;
    }
    const failure = classify(error, header, context);
    fail(failure.check, failure.reason);
  }

  if (chain && resolved.key !== undefined) {
    const leafKey = spki(chain.publicKey);
    const kidKey = spki(resolved.key);
    if (!leafKey || !kidKey || !leafKey.equals(kidKey)) {
      fail(
        'certificate-chain',
        `the x5c leaf certificate's public key is not the NRAS key with kid ${quote(header.kid)}`,
      );
    }
  }

  if (payload) {
    const nonce = payload.eat_nonce;
    if (typeof nonce !== 'string') {
      fail('nonce', `has no eat_nonce (expected ${truncate(context.expectedNonce)})`);
    } else if (nonce.toLowerCase() !== context.expectedNonce.toLowerCase()) {
      fail(
        'nonce',
        `eat_nonce ${truncate(nonce)} does not match the expected nonce ${truncate(context.expectedNonce)}`,
      );
    }
  }
  return { header, payload, failures };
}

function classify(
  error: unknown,
  header: ProtectedHeaderParameters,
  context: VerifyContext,
): { check: string; reason: string } {
  const kid = quote(header.kid);
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return {
      check: 'algorithm',
      reason: `algorithm ${quote(header.alg)} is not allowed (only ES384)`,
    };
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return header.kid === undefined
      ? { check: 'key', reason: 'has no kid, so no NRAS key can be selected' }
      : { check: 'key', reason: `no NRAS key with kid ${kid}` };
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return { check: 'key', reason: `several NRAS keys match kid ${kid}` };
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return { check: 'signature', reason: `signature does not verify with the NRAS key ${kid}` };
  }
  if (error instanceof errors.JWTExpired) {
    const exp = numberClaim(error.payload.exp);
    return {
      check: 'expired',
      reason: `expired at ${exp === null ? 'an unknown time' : isoTime(exp)} (now ${context.now.toISOString()}, tolerance ${context.tolerance}s)`,
    };
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const value = error.payload[error.claim];
    if (error.reason === 'missing') {
      return {
        check: error.claim === 'iss' ? 'issuer' : 'claims',
        reason: `missing required ${quote(error.claim)} claim`,
      };
    }
    if (error.claim === 'iss') {
      return {
        check: 'issuer',
        reason: `issuer ${quote(value)} is not the expected ${quote(context.issuer)}`,
      };
    }
    if ((error.claim === 'nbf' || error.claim === 'iat') && typeof value === 'number') {
      return {
        check: 'not-yet-valid',
        reason: `not valid before ${isoTime(value)} (${error.claim}; now ${context.now.toISOString()}, tolerance ${context.tolerance}s)`,
      };
    }
    return { check: 'claims', reason: `${quote(error.claim)} claim is invalid: ${error.message}` };
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return { check: 'format', reason: `malformed token: ${error.message}` };
  }
  if (error instanceof errors.JOSENotSupported) {
    return { check: 'algorithm', reason: `unsupported token: ${error.message}` };
  }
  // Anything else comes from resolving the key: an unreachable or malformed key set. Nothing is
  // known about the token then, so callers retry rather than judge it.
  const message = error instanceof Error ? error.message : String(error);
  return {
    check: 'key-unavailable',
    reason: `could not obtain the NRAS key ${kid}: ${message}`,
  };
}

/**
 * Checks the header's x5c chain (leaf first) up to a configured root and returns the leaf, or
 * null after recording why it cannot be trusted.
 */
function checkChain(
  header: ProtectedHeaderParameters,
  roots: X509Certificate[],
  context: VerifyContext,
  fail: (check: string, reason: string) => void,
): X509Certificate | null {
  const bad = (reason: string) => {
    fail('certificate-chain', reason);
    return null;
  };
  const x5c: unknown = header.x5c;
  if (x5c === undefined) return bad('has no x5c certificate chain, but NRAS roots are configured');
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN_LENGTH) {
    return bad(`x5c must be an array of 1 to ${MAX_CHAIN_LENGTH} base64 certificates`);
  }
  const certs: X509Certificate[] = [];
  for (const [i, entry] of x5c.entries()) {
    if (typeof entry !== 'string') return bad(`x5c[${i}] is ${describe(entry)}, not base64`);
    try {
      certs.push(new X509Certificate(Buffer.from(entry, 'base64')));
    } catch {
      return bad(`x5c[${i}] is not a DER certificate`);
    }
  }

  const now = context.now.getTime();
  const slack = context.tolerance * 1000;
  const expired = (cert: X509Certificate, what: string) => {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (!(from - slack <= now))
      return `${what} (${subject(cert)}) is not valid before ${cert.validFrom}`;
    if (!(now <= to + slack)) return `${what} (${subject(cert)}) expired at ${cert.validTo}`;
    return null;
  };

  for (const [i, cert] of certs.entries()) {
    const problem = expired(cert, `x5c[${i}]`);
    if (problem) return bad(problem);
    const parent = certs[i + 1];
    if (!parent) break;
    if (!cert.checkIssued(parent) || !cert.verify(parent.publicKey)) {
      return bad(
        `x5c[${i}] (${subject(cert)}) is not issued by x5c[${i + 1}] (${subject(parent)})`,
      );
    }
    // A leaf certificate must not be able to vouch for a key of its choosing.
    if (!parent.ca) return bad(`x5c[${i + 1}] (${subject(parent)}) is not a CA certificate`);
  }

  const last = certs[certs.length - 1];
  const leaf = certs[0];
  if (!last || !leaf) return bad('x5c is empty');
  const anchored = roots.some(
    (root) =>
      root.raw.equals(last.raw) ||
      (root.ca &&
        expired(root, 'root') === null &&
        last.checkIssued(root) &&
        last.verify(root.publicKey)),
  );
  if (!anchored) {
    return bad(
      `x5c chain does not end at a configured NRAS root (last certificate ${subject(last)}, issued by ${truncate(last.issuer.replace(/\n/g, ', '), 120)}, SHA-256 fingerprint ${truncate(last.fingerprint256, 23)})`,
    );
  }
  return leaf;
}

function checkSubmods(overall: JWTPayload, detached: [string, string][], failures: Failures): void {
  const submods = overall.submods;
  if (!isRecord(submods)) {
    failures.push({
      check: 'claims',
      token: 'overall',
      reason: `overall token: submods is ${describe(submods)}, not an object of digests`,
    });
    return;
  }
  const present = new Set(detached.map(([key]) => key));
  for (const [key, token] of detached) {
    if (!Object.hasOwn(submods, key)) {
      failures.push({
        check: 'submods-missing',
        token: key,
        reason: `${key}: detached token has no entry in the overall token's submods, so nothing binds it to this attestation`,
      });
      continue;
    }
    const entry = submods[key];
    const digest =
      Array.isArray(entry) && entry[0] === 'DIGEST' && Array.isArray(entry[1])
        ? (entry[1] as unknown[])
        : null;
    if (!digest || typeof digest[0] !== 'string' || typeof digest[1] !== 'string') {
      failures.push({
        check: 'submods-digest',
        token: key,
        reason: `${key}: the overall token's submods entry is not ["DIGEST", [<algorithm>, <hex>]]`,
      });
      continue;
    }
    const [algorithm, claimed] = digest as [string, string];
    if (algorithm.toUpperCase().replace('-', '') !== 'SHA256') {
      failures.push({
        check: 'submods-digest',
        token: key,
        reason: `${key}: submods digest algorithm ${quote(algorithm)} is not supported (only SHA256)`,
      });
      continue;
    }
    const actual = createHash('sha256').update(token, 'utf8').digest('hex');
    if (actual !== claimed.toLowerCase()) {
      failures.push({
        check: 'submods-digest',
        token: key,
        reason: `${key}: SHA-256 of the detached token (${truncate(actual)}) does not match the overall token's submods digest (${truncate(claimed)})`,
      });
    }
  }
  for (const key of Object.keys(submods)) {
    if (!present.has(key)) {
      failures.push({
        check: 'submods-missing',
        token: truncate(key, 64),
        reason: `${truncate(key, 64)}: the overall token's submods lists this GPU but the result has no detached token for it`,
      });
    }
  }
}

function gpuResult(key: string, payload: JWTPayload): NrasGpuResult {
  const match = /^GPU-(\d{1,6})$/.exec(key);
  const checks: [string, boolean | null][] = NRAS_GPU_CHECKS.map((name) => [
    name,
    booleanClaim(payload[GPU_CLAIM_PREFIX + name]),
  ]);
  const known = new Set<string>(NRAS_GPU_CHECKS);
  // Checks NRAS adds later still reach the appraisal policy without a code change here.
  for (const [claim, value] of Object.entries(payload)) {
    const name = claim.slice(GPU_CLAIM_PREFIX.length);
    if (claim.startsWith(GPU_CLAIM_PREFIX) && typeof value === 'boolean' && !known.has(name)) {
      checks.push([name, value]);
    }
  }
  return {
    key,
    index: match ? Number(match[1]) : null,
    measres: stringClaim(payload.measres),
    secboot: booleanClaim(payload.secboot),
    dbgstat: stringClaim(payload.dbgstat),
    driverVersion: stringClaim(payload[`${GPU_CLAIM_PREFIX}driver-version`]),
    vbiosVersion: stringClaim(payload[`${GPU_CLAIM_PREFIX}vbios-version`]),
    hwmodel: stringClaim(payload.hwmodel),
    ueid: stringClaim(payload.ueid),
    // fromEntries defines own properties, so a claim named "x-nvidia-gpu-__proto__" stays data.
    checks: Object.fromEntries(checks),
  };
}

/**
 * Builds the verifier's `keys`/`rootCertificates` from configuration strings: `jwks` is either
 * inline JSON, a file path, or an http(s) URL (remote set, cached); `rootPem` is PEM text or a
 * file path containing one or more certificates.
 *
 * Throws when the configuration is unusable, so a misconfigured deployment fails at boot rather
 * than at the first attestation.
 */
export function nrasVerifierFromConfig(config: {
  jwks: string;
  rootPem?: string | null;
  issuer?: string;
}): NrasVerifierOptions {
  const options: NrasVerifierOptions = { keys: jwksFromConfig(config.jwks.trim()) };
  if (config.rootPem) options.rootCertificates = rootsFromConfig(config.rootPem.trim());
  if (config.issuer) options.issuer = config.issuer;
  return options;
}

function jwksFromConfig(jwks: string): JWTVerifyGetKey {
  if (/^https?:\/\//i.test(jwks)) return createRemoteJWKSet(new URL(jwks));
  let text = jwks;
  if (!jwks.startsWith('{')) {
    try {
      text = readFileSync(jwks, 'utf8');
    } catch (error) {
      throw new Error(`NRAS JWKS ${quote(jwks)} is neither JSON, a URL nor a readable file`, {
        cause: error,
      });
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error('NRAS JWKS is not valid JSON', { cause: error });
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.keys)) {
    throw new Error('NRAS JWKS must be a JSON Web Key Set ({"keys": [...]})');
  }
  return createLocalJWKSet(parsed as { keys: JWK[] });
}

function rootsFromConfig(rootPem: string): X509Certificate[] {
  let text = rootPem;
  if (!rootPem.includes('-----BEGIN')) {
    try {
      text = readFileSync(rootPem, 'utf8');
    } catch (error) {
      throw new Error(`NRAS root ${quote(rootPem)} is neither PEM nor a readable file`, {
        cause: error,
      });
    }
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new Error('NRAS root PEM holds no certificate');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new Error(`NRAS root PEM certificate ${i + 1} cannot be parsed`, { cause: error });
    }
  });
}

/** SPKI DER of whatever form the key set handed back, or null when it is not a public key. */
function spki(key: unknown): Buffer | null {
  try {
    if (key instanceof KeyObject) return key.export({ type: 'spki', format: 'der' });
    if (key instanceof Uint8Array || !isRecord(key)) return null;
    if ('algorithm' in key && 'usages' in key) {
      return KeyObject.from(key as unknown as Parameters<typeof KeyObject.from>[0]).export({
        type: 'spki',
        format: 'der',
      });
    }
    if (typeof key.kty === 'string') {
      return createPublicKey({ key: key as JsonWebKeyInput, format: 'jwk' }).export({
        type: 'spki',
        format: 'der',
      });
    }
  } catch {
    return null;
  }
  return null;
}

type JsonWebKeyInput = Parameters<typeof createPublicKey>[0] extends infer T
  ? T extends { format: 'jwk'; key: infer K }
    ? K
    : never
  : never;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringClaim(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function booleanClaim(value: unknown): boolean | null {
  return typeof value === 'boolean' ? value : null;
}

function numberClaim(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

/** Untrusted values are cut short so that a reason can never carry a token or a huge string. */
function truncate(value: string, length = 16): string {
  return value.length > length ? `${value.slice(0, length)}…` : value;
}

function quote(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(truncate(value, 64)) : String(value);
}

function subject(cert: X509Certificate): string {
  return truncate(cert.subject.replace(/\n/g, ', '), 120);
}
