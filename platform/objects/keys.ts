import { InvalidObjectKeyError, MultipartUploadError, ObjectStoreError } from './types.ts';

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

/** S3's smallest part (all but the last part of a multipart upload must be at least this). */
export const MIN_PART_BYTES = 5 * 1024 ** 2;

/** S3's largest part. */
export const MAX_PART_BYTES = 5 * 1024 ** 3;

/** S3's limit on the number of parts in one multipart upload. */
export const MAX_PARTS = 10_000;

/** The part size used when the caller names none (grown when the object needs over 10,000). */
export const DEFAULT_PART_BYTES = 64 * 1024 ** 2;

/** The largest object a multipart upload may assemble (S3's limit). */
export const MAX_MULTIPART_OBJECT_BYTES = 5 * 1024 ** 4;

/** How a multipart upload of `sizeBytes` is cut: parts 1..partCount, the last one possibly shorter. */
export interface MultipartGeometry {
  sizeBytes: number;
  partSize: number;
  partCount: number;
}

/**
 * Validates a declared multipart upload and decides its part size: `partSize` when given (5 MiB to
 * 5 GiB, at most 10,000 parts), else 64 MiB, grown in whole MiB when the object needs more parts.
 */
export function resolveMultipartGeometry(
  sizeBytes: number,
  partSize: number | undefined,
): MultipartGeometry {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 1) {
    throw new ObjectStoreError(
      'INVALID_ARGUMENT',
      `sizeBytes must be an integer of at least 1, got ${sizeBytes}`,
    );
  }
  if (sizeBytes > MAX_MULTIPART_OBJECT_BYTES) {
    throw new ObjectStoreError(
      'INVALID_ARGUMENT',
      `sizeBytes ${sizeBytes} exceeds the multipart limit of ${MAX_MULTIPART_OBJECT_BYTES} bytes`,
    );
  }
  let size: number;
  if (partSize === undefined) {
    const mib = 1024 ** 2;
    size = Math.max(DEFAULT_PART_BYTES, Math.ceil(sizeBytes / MAX_PARTS / mib) * mib);
  } else {
    if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES) {
      throw new ObjectStoreError(
        'INVALID_ARGUMENT',
        `partSize must be an integer between ${MIN_PART_BYTES} and ${MAX_PART_BYTES}, got ${partSize}`,
      );
    }
    size = partSize;
  }
  const partCount = Math.ceil(sizeBytes / size);
  if (partCount > MAX_PARTS) {
    throw new ObjectStoreError(
      'INVALID_ARGUMENT',
      `${sizeBytes} bytes in parts of ${size} make ${partCount} parts, over the limit of ` +
        `${MAX_PARTS}; use a partSize of at least ${Math.ceil(sizeBytes / MAX_PARTS)}`,
    );
  }
  return { sizeBytes, partSize: size, partCount };
}

/** The exact length of part `partNumber` (1-based) of an upload cut as `geometry`. */
export function partLength(geometry: MultipartGeometry, partNumber: number): number {
  return partNumber < geometry.partCount
    ? geometry.partSize
    : geometry.sizeBytes - (geometry.partCount - 1) * geometry.partSize;
}

/** Validates a byte range [start, end) and returns it; `end` past the object is clamped later. */
export function validateRange(start: number, end: number): { start: number; end: number } {
  for (const [name, value] of [
    ['start', start],
    ['end', end],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ObjectStoreError(
        'INVALID_ARGUMENT',
        `range ${name} must be a non-negative integer, got ${value}`,
      );
    }
  }
  if (end < start) {
    throw new ObjectStoreError(
      'INVALID_ARGUMENT',
      `range end (${end}) must not be before its start (${start})`,
    );
  }
  return { start, end };
}

/**
 * An ETag as a client may hand it back (`"abc"`, `abc`, `W/"abc"`), reduced to its bare value.
 * S3 itself compares part ETags with the quotes removed.
 */
export function bareEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/"/g, '').toLowerCase();
}

/**
 * Validates the parts a caller hands to `completeMultipartUpload`: part numbers 1..n, each once,
 * each with a non-empty ETag. Returns them sorted, ETags bare.
 */
export function normalizeCompletedParts(
  uploadId: string,
  parts: readonly { partNumber: number; etag: string }[],
): { partNumber: number; etag: string }[] {
  const given: unknown = parts;
  if (!Array.isArray(given) || parts.length === 0) {
    throw new MultipartUploadError(uploadId, 'no parts were given');
  }
  const sorted = parts
    .map((part) => {
      if (!Number.isSafeInteger(part.partNumber) || part.partNumber < 1) {
        throw new MultipartUploadError(
          uploadId,
          `part number must be a positive integer, got ${part.partNumber}`,
        );
      }
      const etag = typeof part.etag === 'string' ? bareEtag(part.etag) : '';
      if (etag === '') {
        throw new MultipartUploadError(uploadId, `part ${part.partNumber} has no ETag`);
      }
      return { partNumber: part.partNumber, etag };
    })
    .sort((a, b) => a.partNumber - b.partNumber);
  sorted.forEach((part, index) => {
    if (part.partNumber === index) {
      throw new MultipartUploadError(uploadId, `part ${part.partNumber} is listed twice`, {
        partNumber: part.partNumber,
      });
    }
    if (part.partNumber !== index + 1) {
      throw new MultipartUploadError(uploadId, `part ${index + 1} is missing from the list`, {
        partNumber: index + 1,
      });
    }
  });
  return sorted;
}
