import { InvalidObjectKeyError, ObjectStoreError } from './types.ts';

/** S3's own limit; the filesystem store keeps the same one so keys move between backends. */
export const MAX_KEY_BYTES = 1024;

/** The largest object a single S3 PutObject accepts; both stores use it as the default cap. */
export const MAX_OBJECT_BYTES = 5 * 1024 ** 3;

/** S3 refuses presigned URLs valid for longer than seven days. */
export const MAX_SIGNED_URL_TTL_SECONDS = 7 * 24 * 3600;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Throws `InvalidObjectKeyError` unless `key` is a safe relative object key. */
export function validateObjectKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0)
    throw new InvalidObjectKeyError(String(key), 'empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new InvalidObjectKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  }
  if (key.startsWith('/')) throw new InvalidObjectKeyError(key, 'must not start with "/"');
  if (CONTROL_CHARS.test(key)) throw new InvalidObjectKeyError(key, 'contains control characters');
  // `.`/`..` segments would let a key escape or alias another once it is a path or a URL (URL
  // parsers collapse them), so a key means the same thing on every backend.
  for (const segment of key.split(/[/\\]/)) {
    if (segment === '..' || segment === '.') {
      throw new InvalidObjectKeyError(key, 'must not contain "." or ".." segments');
    }
  }
  return key;
}

/** Validates an optional byte limit and falls back to the largest object S3 accepts in one PUT. */
export function resolveMaxBytes(maxBytes: number | undefined): number {
  if (maxBytes === undefined) return MAX_OBJECT_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new ObjectStoreError(
      'INVALID_ARGUMENT',
      `maxBytes must be a non-negative integer, got ${maxBytes}`,
    );
  }
  return Math.min(maxBytes, MAX_OBJECT_BYTES);
}

/** Validates an optional signed-URL lifetime and falls back to the configured default. */
export function resolveTtlSeconds(expiresInSeconds: number | undefined, fallback: number): number {
  const ttl = expiresInSeconds ?? fallback;
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_SIGNED_URL_TTL_SECONDS) {
    throw new ObjectStoreError(
      'INVALID_ARGUMENT',
      `expiresInSeconds must be an integer between 1 and ${MAX_SIGNED_URL_TTL_SECONDS}, got ${ttl}`,
    );
  }
  return ttl;
}

/** A `Content-Disposition: attachment` value that survives non-ASCII file names (RFC 6266). */
export function attachmentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  // RFC 5987 attr-chars exclude a few characters encodeURIComponent leaves alone.
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
