import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * DSSE v1 (secure-systems-lab/dsse, protocol.md and envelope.md): a signature over the
 * Pre-Authentication Encoding of a payload and its type, so a signature for one kind of document
 * can never be passed off as another. ECDSA signatures are ASN.1 DER, as Sigstore writes them.
 */

export interface DsseEnvelope {
  payloadType: string;
  /** base64 */
  payload: string;
  signatures: { keyid?: string; /** base64 */ sig: string }[];
}

export type DsseVerification =
  | { ok: true; keyid: string | undefined; payload: Buffer; payloadType: string }
  | { ok: false; reason: string };

/** A trusted verification key; `keyid` narrows which signatures are tried against it first. */
export interface DsseKey {
  keyid?: string;
  key: KeyObject;
}

/** Limits on what an envelope may hold, so a hostile one costs little to reject. */
export const DSSE_LIMITS = {
  /** Decoded payload bytes. */
  payloadBytes: 32 << 20,
  payloadTypeLength: 256,
  signatures: 8,
  /** Characters of one base64 signature (an ML-DSA-87 signature is 4,627 bytes). */
  signatureLength: 8192,
  keyidLength: 256,
} as const;

const STANDARD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE_BASE64 = /^[A-Za-z0-9_-]*={0,2}$/;

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'ascii'),
    type,
    Buffer.from(` ${payload.length} `, 'ascii'),
    payload,
  ]);
}

/**
 * Signs `payload` into a one-signature envelope. ECDSA P-256 signs with SHA-256, P-384 with
 * SHA-384, P-521 with SHA-512 (as `model_signing` and Sigstore pair them); Ed25519 is also
 * accepted. Throws for any other key.
 */
export function signEnvelope(
  payloadType: string,
  payload: Buffer,
  key: KeyObject,
  keyid?: string,
): DsseEnvelope {
  if (key.type !== 'private') throw new TypeError('signEnvelope needs a private key');
  const digest = digestFor(key);
  if (digest === null) throw new TypeError(`unsupported signing key: ${describeKey(key)}`);
  const sig = sign(digest, pae(payloadType, payload), { key, dsaEncoding: 'der' });
  return {
    payloadType,
    payload: payload.toString('base64'),
    signatures: [{ ...(keyid === undefined ? {} : { keyid }), sig: sig.toString('base64') }],
  };
}

/**
 * Verifies an envelope of unknown shape against trusted keys: accepted when any signature verifies
 * with any of them (keys whose keyid matches the signature's are tried first; the keyid is an
 * unauthenticated hint, never a reason to accept). `keyid` in the result is the trusted key's.
 * The payload type is returned, not judged: checking it is the caller's business.
 */
export function verifyEnvelope(envelope: unknown, keys: DsseKey[]): DsseVerification {
  const parsed = parseEnvelope(envelope);
  if ('reason' in parsed) return { ok: false, reason: parsed.reason };
  const usable = keys.flatMap(({ keyid, key }) => {
    const publicKey = key.type === 'private' ? createPublicKey(key) : key;
    const digest = publicKey.type === 'public' ? digestFor(publicKey) : null;
    return digest === null ? [] : [{ keyid, key: publicKey, digest }];
  });
  if (usable.length === 0) {
    return {
      ok: false,
      reason: 'no usable verification key (ECDSA P-256, P-384, P-521 or Ed25519 public keys)',
    };
  }
  const message = pae(parsed.payloadType, parsed.payload);
  for (const signature of parsed.signatures) {
    const ordered = [
      ...usable.filter((k) => signature.keyid && k.keyid === signature.keyid),
      ...usable.filter((k) => !(signature.keyid && k.keyid === signature.keyid)),
    ];
    for (const candidate of ordered) {
      if (verifies(candidate.digest, message, candidate.key, signature.sig)) {
        return {
          ok: true,
          keyid: candidate.keyid,
          payload: parsed.payload,
          payloadType: parsed.payloadType,
        };
      }
    }
  }
  const count = parsed.signatures.length;
  return {
    ok: false,
    reason: `${count === 1 ? 'the signature does not verify' : `none of the ${count} signatures verifies`} with ${
      usable.length === 1 ? 'the trusted key' : `any of the ${usable.length} trusted keys`
    }`,
  };
}

interface ParsedEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: { keyid: string | undefined; sig: Buffer }[];
}

function parseEnvelope(value: unknown): ParsedEnvelope | { reason: string } {
  if (!isRecord(value)) return { reason: 'the envelope is not a JSON object' };
  const unknown = Object.keys(value).filter(
    (k) => k !== 'payloadType' && k !== 'payload' && k !== 'signatures',
  );
  if (unknown.length > 0)
    return { reason: `the envelope has unknown field(s): ${unknown.join(', ')}` };
  const { payloadType, payload, signatures } = value;
  if (typeof payloadType !== 'string' || payloadType === '') {
    return { reason: 'payloadType must be a non-empty string' };
  }
  if (payloadType.length > DSSE_LIMITS.payloadTypeLength) {
    return { reason: `payloadType is longer than ${DSSE_LIMITS.payloadTypeLength} characters` };
  }
  if (typeof payload !== 'string') return { reason: 'payload must be a base64 string' };
  if (payload.length > Math.ceil(DSSE_LIMITS.payloadBytes / 3) * 4) {
    return { reason: `payload is larger than ${DSSE_LIMITS.payloadBytes} bytes` };
  }
  const payloadBytes = decodeBase64(payload);
  if (payloadBytes === null) return { reason: 'payload is not valid base64' };
  if (!Array.isArray(signatures) || signatures.length === 0) {
    return { reason: 'signatures must be a non-empty array' };
  }
  if (signatures.length > DSSE_LIMITS.signatures) {
    return { reason: `more than ${DSSE_LIMITS.signatures} signatures` };
  }
  const parsed: ParsedEnvelope['signatures'] = [];
  for (const [i, signature] of (signatures as unknown[]).entries()) {
    const at = `signatures[${i}]`;
    if (!isRecord(signature)) return { reason: `${at} is not an object` };
    const extra = Object.keys(signature).filter((k) => k !== 'sig' && k !== 'keyid');
    if (extra.length > 0) return { reason: `${at} has unknown field(s): ${extra.join(', ')}` };
    const { sig, keyid } = signature;
    if (typeof sig !== 'string' || sig === '')
      return { reason: `${at}.sig must be a base64 string` };
    if (sig.length > DSSE_LIMITS.signatureLength) {
      return { reason: `${at}.sig is longer than ${DSSE_LIMITS.signatureLength} characters` };
    }
    const sigBytes = decodeBase64(sig);
    if (sigBytes === null || sigBytes.length === 0) {
      return { reason: `${at}.sig is not valid base64` };
    }
    // Older Sigstore bundles carry a null keyid; model_signing now writes "".
    if (keyid !== undefined && keyid !== null && typeof keyid !== 'string') {
      return { reason: `${at}.keyid must be a string` };
    }
    if (typeof keyid === 'string' && keyid.length > DSSE_LIMITS.keyidLength) {
      return { reason: `${at}.keyid is longer than ${DSSE_LIMITS.keyidLength} characters` };
    }
    parsed.push({ keyid: typeof keyid === 'string' ? keyid : undefined, sig: sigBytes });
  }
  return { payloadType, payload: payloadBytes, signatures: parsed };
}

/**
 * Standard or URL-safe base64 (DSSE verifiers must accept either), one alphabet per string, with
 * padding that is either absent or complete. Node's decoder silently skips bad characters, hence
 * the checks first.
 */
function decodeBase64(text: string): Buffer | null {
  if (!STANDARD_BASE64.test(text) && !URL_SAFE_BASE64.test(text)) return null;
  const unpadded = text.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return null;
  if (text.length !== unpadded.length && text.length % 4 !== 0) return null;
  return Buffer.from(unpadded, 'base64');
}

function verifies(
  digest: string | undefined,
  message: Buffer,
  key: KeyObject,
  sig: Buffer,
): boolean {
  try {
    return verify(digest, message, { key, dsaEncoding: 'der' }, sig);
  } catch {
    return false;
  }
}

/** The hash a key signs with, undefined for Ed25519 (hash built in), null when unsupported. */
function digestFor(key: KeyObject): string | undefined | null {
  if (key.asymmetricKeyType === 'ed25519') return undefined;
  if (key.asymmetricKeyType !== 'ec') return null;
  switch (key.asymmetricKeyDetails?.namedCurve) {
    case 'prime256v1':
      return 'sha256';
    case 'secp384r1':
      return 'sha384';
    case 'secp521r1':
      return 'sha512';
    default:
      return null;
  }
}

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `${key.asymmetricKeyType ?? 'secret'}${curve ? ` ${curve}` : ''}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
