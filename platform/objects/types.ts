import type { Readable } from 'node:stream';

/** What `put` reports about the stored object. */
export interface PutResult {
  key: string;
  sizeBytes: number;
  /** Lowercase hex SHA-256 of the bytes as stored. */
  sha256: string;
}

export interface PutOptions {
  contentType?: string;
  /** Bodies longer than this are refused with `ObjectTooLargeError` and nothing is stored. */
  maxBytes?: number;
}

export interface ObjectHead {
  sizeBytes: number;
  contentType: string;
}

export interface PresignUploadOptions {
  /** When set, the uploader must send exactly this `content-type` (returned in `headers`). */
  contentType?: string;
  /**
   * Upper bound on the upload. Enforced by the filesystem store's HTTP handler (413). A presigned
   * S3 PUT cannot carry a size range (only POST policies can), so on S3 the caller must `head()`
   * the key after the upload and reject or delete an oversized object.
   */
  maxBytes?: number;
  /** Defaults to `SIGNED_URL_TTL_SECONDS`. */
  expiresInSeconds?: number;
}

export interface PresignedUpload {
  url: string;
  method: 'PUT';
  /** Headers the uploader must send with the PUT, exactly as given. */
  headers: Record<string, string>;
  expiresAt: Date;
}

export interface PresignDownloadOptions {
  expiresInSeconds?: number;
  /** Served as `Content-Disposition: attachment` with this file name. */
  filename?: string;
}

export interface PresignedDownload {
  url: string;
  expiresAt: Date;
}

export interface PresignMultipartUploadOptions {
  /** The exact size of the object; at least 1 byte, at most 5 TiB. */
  sizeBytes: number;
  /**
   * Bytes per part, 5 MiB to 5 GiB (S3's limits); every part but the last has exactly this size.
   * Defaults to 64 MiB, grown in whole MiB when the object would otherwise need over 10,000 parts.
   */
  partSize?: number;
  /** Stored as the object's content type on completion (parts carry none). */
  contentType?: string;
  /** Lifetime of the part URLs; defaults to `SIGNED_URL_TTL_SECONDS`. */
  expiresInSeconds?: number;
}

/** One part's upload URL. */
export interface PresignedPart {
  partNumber: number;
  url: string;
  method: 'PUT';
  /** Headers the uploader must send with the PUT, exactly as given. */
  headers: Record<string, string>;
}

export interface PresignedMultipartUpload {
  uploadId: string;
  partSize: number;
  /** One signed PUT per part, in order (part numbers 1..n); the last part may be shorter. */
  parts: PresignedPart[];
  expiresAt: Date;
}

/** A part as `completeMultipartUpload` takes it: the ETag is the one its PUT response returned. */
export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export interface CompletedMultipartUpload {
  key: string;
  sizeBytes: number;
}

/**
 * Blob storage for reports, model files and documents. Keys are `/`-separated relative paths
 * (see `validateObjectKey`); every method validates the key first.
 */
export interface ObjectStore {
  readonly kind: 'filesystem' | 's3';
  /** Streams `body` into the store, hashing it on the way; replaces any existing object. */
  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<PutResult>;
  /** Opens the object for reading; rejects with `ObjectNotFoundError` when it does not exist. */
  get(key: string): Promise<Readable>;
  /**
   * Bytes [start, end) of the object (`end` exclusive, clamped to the object's size; an empty
   * stream when `start` is at or past the end). Rejects with `ObjectNotFoundError` when the object
   * does not exist and with an `INVALID_ARGUMENT` error for negative, fractional or NaN bounds or
   * an `end` before `start`.
   */
  getRange(key: string, start: number, end: number): Promise<Readable>;
  /** Size and content type, or null when the object does not exist. */
  head(key: string): Promise<ObjectHead | null>;
  /** Removes the object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** A URL a client can PUT the object's bytes to without credentials, until it expires. */
  presignUpload(key: string, options?: PresignUploadOptions): Promise<PresignedUpload>;
  /** A URL a client can GET the object from without credentials, until it expires. */
  presignDownload(key: string, options?: PresignDownloadOptions): Promise<PresignedDownload>;
  /**
   * Starts a multipart upload of exactly `sizeBytes` and signs one PUT URL per part, for files too
   * large for one PUT. Each part's PUT answers with an `ETag` header; hand the ETags to
   * `completeMultipartUpload`. On S3 the bucket's CORS rules must expose `ETag` to browsers, and a
   * lifecycle rule (AbortIncompleteMultipartUpload) should reap abandoned uploads.
   */
  presignMultipartUpload(
    key: string,
    options: PresignMultipartUploadOptions,
  ): Promise<PresignedMultipartUpload>;
  /**
   * Assembles the parts into the object (replacing any object under the key). `parts` are the
   * ETags the PUT responses returned, for part numbers 1..n. Rejects with
   * `MultipartUploadError` when a part is missing, unlisted, of the wrong size or its ETag does not
   * match, and with `MultipartUploadNotFoundError` when the upload is unknown, completed or aborted.
   */
  completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
  ): Promise<CompletedMultipartUpload>;
  /** Discards an upload and the parts it received; aborting an unknown upload is not an error. */
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
  /** Creates the bucket (S3) or directory (filesystem) when missing; for tests, CI and dev boots. */
  ensureBucket(): Promise<void>;
  /** Readiness: resolves when the backing store answers, rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Options shared by both implementations. */
export interface ObjectStoreOptions {
  /**
   * Clock used to date signed URLs (milliseconds since the epoch). Tests pass a clock in the past
   * to obtain already-expired URLs without sleeping; verification always uses the real clock.
   */
  now?: () => number;
}

/** Base class of the errors the object store throws on purpose; `code` is stable for callers. */
export class ObjectStoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ObjectStoreError';
  }
}

/** The key is not acceptable (empty, too long, absolute, `..` segment, control characters). */
export class InvalidObjectKeyError extends ObjectStoreError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    // Quote a bounded prefix: the key may be a 1 MB string from a client.
    const shown = key.length > 80 ? `${JSON.stringify(key.slice(0, 80))}…` : JSON.stringify(key);
    super('INVALID_OBJECT_KEY', `invalid object key ${shown}: ${reason}`);
    this.name = 'InvalidObjectKeyError';
  }
}

/** No object is stored under the key. */
export class ObjectNotFoundError extends ObjectStoreError {
  constructor(
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super('OBJECT_NOT_FOUND', `object not found: ${key}`, options);
    this.name = 'ObjectNotFoundError';
  }
}

/** The body exceeded `maxBytes`; nothing was stored. */
export class ObjectTooLargeError extends ObjectStoreError {
  constructor(
    readonly key: string,
    readonly maxBytes: number,
  ) {
    super('OBJECT_TOO_LARGE', `object ${key} exceeds the limit of ${maxBytes} bytes`);
    this.name = 'ObjectTooLargeError';
  }
}

/** No multipart upload with this id is in progress for the key (never started, completed, aborted). */
export class MultipartUploadNotFoundError extends ObjectStoreError {
  constructor(
    readonly key: string,
    readonly uploadId: string,
    options?: ErrorOptions,
  ) {
    super('MULTIPART_UPLOAD_NOT_FOUND', `no multipart upload ${uploadId} for ${key}`, options);
    this.name = 'MultipartUploadNotFoundError';
  }
}

/** The parts of a multipart upload cannot be assembled as given; nothing was stored. */
export class MultipartUploadError extends ObjectStoreError {
  readonly partNumber: number | undefined;

  constructor(
    readonly uploadId: string,
    reason: string,
    options?: ErrorOptions & { partNumber?: number },
  ) {
    super('MULTIPART_UPLOAD_INVALID', `multipart upload ${uploadId}: ${reason}`, options);
    this.name = 'MultipartUploadError';
    this.partNumber = options?.partNumber;
  }
}
