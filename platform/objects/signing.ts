import { createHmac, timingSafeEqual } from 'node:crypto';

/** Everything a filesystem signed URL grants; all of it is covered by the signature. */
export interface ObjectUrlGrant {
  /** `put-part`: one part of a multipart upload, exactly `maxBytes` long. */
  op: 'get' | 'put' | 'put-part';
  key: string;
  /** Expiry, unix seconds. */
  exp: number;
  maxBytes?: number;
  contentType?: string;
  filename?: string;
  /** `put-part` only. */
  uploadId?: string;
  /** `put-part` only, 1-based. */
  partNumber?: number;
}

/** The path prefix, below `publicUrl`, that signed object URLs live under. */
export const OBJECTS_PATH = '/objects/';

// The version tag keeps these signatures from ever matching an HMAC the secret makes elsewhere.
const DOMAIN = 'lotabots:object-url:v1';

/** HMAC-SHA256 (base64url) over every field of the grant, keyed with the deployment secret. */
export function signGrant(secret: string, grant: ObjectUrlGrant): string {
  // A JSON array is an unambiguous encoding: no field can bleed into the next.
  const fields: unknown[] = [
    DOMAIN,
    grant.op,
    grant.key,
    grant.exp,
    grant.maxBytes ?? null,
    grant.contentType ?? null,
    grant.filename ?? null,
  ];
  // Appended only for part grants, so signatures of get/put URLs already handed out stay valid.
  if (grant.op === 'put-part' || grant.uploadId !== undefined || grant.partNumber !== undefined) {
    fields.push(grant.uploadId ?? null, grant.partNumber ?? null);
  }
  const payload = JSON.stringify(fields);
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

/** Constant-time check of a signature taken from a URL. */
export function verifyGrant(secret: string, grant: ObjectUrlGrant, signature: string): boolean {
  const expected = Buffer.from(signGrant(secret, grant));
  const given = Buffer.from(signature);
  // timingSafeEqual needs equal lengths; the length of a valid HMAC is public anyway.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Path form of a key: each segment percent-encoded, slashes kept so URLs stay readable. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** The full signed URL for a grant under `publicUrl`. */
export function buildSignedUrl(publicUrl: string, secret: string, grant: ObjectUrlGrant): string {
  const query = new URLSearchParams({ op: grant.op, exp: String(grant.exp) });
  if (grant.maxBytes !== undefined) query.set('max', String(grant.maxBytes));
  if (grant.contentType !== undefined) query.set('ct', grant.contentType);
  if (grant.filename !== undefined) query.set('fn', grant.filename);
  if (grant.uploadId !== undefined) query.set('upload', grant.uploadId);
  if (grant.partNumber !== undefined) query.set('part', String(grant.partNumber));
  query.set('sig', signGrant(secret, grant));
  return `${publicUrl.replace(/\/$/, '')}${OBJECTS_PATH}${encodeKeyPath(grant.key)}?${query.toString()}`;
}
