import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import {
  attachmentDisposition,
  bareEtag,
  normalizeCompletedParts,
  resolveMaxBytes,
  resolveMultipartGeometry,
  resolveTtlSeconds,
  validateObjectKey,
  validateRange,
} from './keys.ts';
import {
  MultipartUploadError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  type CompletedMultipartUpload,
  type CompletedPart,
  type ObjectHead,
  type ObjectStore,
  type ObjectStoreOptions,
  type PresignDownloadOptions,
  type PresignedDownload,
  type PresignedMultipartUpload,
  type PresignedUpload,
  type PresignMultipartUploadOptions,
  type PresignUploadOptions,
  type PutOptions,
  type PutResult,
} from './types.ts';

type S3Config = Pick<
  Config,
  | 'S3_BUCKET'
  | 'S3_REGION'
  | 'S3_ENDPOINT'
  | 'S3_ACCESS_KEY_ID'
  | 'S3_SECRET_ACCESS_KEY'
  | 'S3_FORCE_PATH_STYLE'
  | 'S3_KEY_PREFIX'
  | 'SIGNED_URL_TTL_SECONDS'
>;

/** Stream bodies up to this size are buffered in memory; larger ones are spooled to a temp file. */
export const S3_MEMORY_SPOOL_BYTES = 8 * 1024 * 1024;

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/**
 * User metadata a multipart upload is created with (and the assembled object keeps): its declared
 * size and part size, so completion can check what S3 assembled. S3 offers no other place to keep
 * them between the presign and the completion.
 */
const DECLARED_SIZE_META = 'declared-size';
const PART_SIZE_META = 'part-size';

/**
 * Objects in an S3 bucket (AWS or any S3-compatible store through `S3_ENDPOINT`), every key
 * prefixed with `S3_KEY_PREFIX`.
 *
 * `put` with a stream: PutObject needs the length up front and multipart uploads need
 * `@aws-sdk/lib-storage`, which is not a dependency. So the stream is read once, hashed and
 * counted on the way, kept in memory up to `S3_MEMORY_SPOOL_BYTES` and spooled to a temp file
 * beyond that, then sent with a known Content-Length. Memory stays bounded whatever the size; the
 * ceiling is a single PutObject's 5 GiB. The SHA-256 is also stored as `x-amz-meta-sha256`.
 *
 * Multipart uploads go straight from the client to S3 through presigned UploadPart URLs, so their
 * objects carry no `sha256` metadata. For browsers the bucket's CORS configuration must allow PUT
 * from the app's origin and expose the `ETag` header; a lifecycle rule with
 * AbortIncompleteMultipartUpload should reap uploads that are never completed or aborted.
 */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  readonly bucket: string;
  private readonly prefix: string;
  private readonly now: () => number;

  constructor(
    private readonly config: S3Config,
    private readonly logger: Logger,
    options: ObjectStoreOptions = {},
  ) {
    if (!config.S3_BUCKET) throw new Error('S3ObjectStore needs S3_BUCKET');
    this.bucket = config.S3_BUCKET;
    this.prefix = config.S3_KEY_PREFIX;
    this.now = options.now ?? Date.now;
    const clientConfig: S3ClientConfig = {
      region: config.S3_REGION,
      // Default checksum behaviour adds CRC32 trailers that S3-compatible stores (s3rver, older
      // MinIO) reject, and would need the body twice for presigned uploads.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (config.S3_ENDPOINT) clientConfig.endpoint = config.S3_ENDPOINT;
    if (config.S3_FORCE_PATH_STYLE !== undefined)
      clientConfig.forcePathStyle = config.S3_FORCE_PATH_STYLE;
    // Without explicit keys the SDK's default chain applies (env, profile, IAM role, IRSA).
    if (config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY) {
      clientConfig.credentials = {
        accessKeyId: config.S3_ACCESS_KEY_ID,
        secretAccessKey: config.S3_SECRET_ACCESS_KEY,
      };
    }
    this.client = new S3Client(clientConfig);
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
    validateObjectKey(key);
    const maxBytes = resolveMaxBytes(options.maxBytes);
    const spooled = Buffer.isBuffer(body)
      ? spoolBuffer(key, body, maxBytes)
      : await spoolStream(key, body, maxBytes);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: spooled.path === undefined ? spooled.buffer : createReadStream(spooled.path),
          ContentLength: spooled.sizeBytes,
          ContentType: options.contentType ?? DEFAULT_CONTENT_TYPE,
          Metadata: { sha256: spooled.sha256 },
        }),
      );
    } finally {
      if (spooled.path !== undefined) await rm(spooled.path, { force: true });
    }
    return { key, sizeBytes: spooled.sizeBytes, sha256: spooled.sha256 };
  }

  async get(key: string): Promise<Readable> {
    validateObjectKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      // In Node the SDK's body is an IncomingMessage (a Readable) with helper methods mixed in.
      if (!(out.Body instanceof Readable))
        throw new Error(`S3 GetObject returned no stream for ${key}`);
      return out.Body;
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(key, { cause: err });
      throw err;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Readable> {
    validateObjectKey(key);
    validateRange(start, end);
    if (end === start) {
      // No byte range can express "nothing"; the object must still exist.
      if ((await this.head(key)) === null) throw new ObjectNotFoundError(key);
      return Readable.from([]);
    }
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          // Inclusive on S3's side; S3 itself clamps an end past the object.
          Range: `bytes=${start}-${end - 1}`,
        }),
      );
      if (!(out.Body instanceof Readable))
        throw new Error(`S3 GetObject returned no stream for ${key}`);
      return exactRange(out.Body, out.ContentRange, start, end);
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(key, { cause: err });
      // 416: the object exists but starts before `start` ends.
      if (isInvalidRange(err)) return Readable.from([]);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectHead | null> {
    validateObjectKey(key);
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      return {
        sizeBytes: out.ContentLength ?? 0,
        contentType: out.ContentType ?? DEFAULT_CONTENT_TYPE,
      };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    validateObjectKey(key);
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
    );
  }

  async presignUpload(key: string, options: PresignUploadOptions = {}): Promise<PresignedUpload> {
    validateObjectKey(key);
    const ttl = resolveTtlSeconds(options.expiresInSeconds, this.config.SIGNED_URL_TTL_SECONDS);
    // Validated for parity with the filesystem store; see PresignUploadOptions.maxBytes for why
    // a presigned PUT cannot enforce it.
    resolveMaxBytes(options.maxBytes);
    const signingDate = new Date(this.now());
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: this.prefix + key,
      ContentType: options.contentType,
    });
    const headers: Record<string, string> = {};
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    const url = await getSignedUrl(this.client, command, {
      expiresIn: ttl,
      signingDate,
      // Signing content-type makes S3 refuse an upload that declares a different type.
      signableHeaders: new Set(Object.keys(headers)),
    });
    return { url, method: 'PUT', headers, expiresAt: new Date(signingDate.getTime() + ttl * 1000) };
  }

  async presignDownload(
    key: string,
    options: PresignDownloadOptions = {},
  ): Promise<PresignedDownload> {
    validateObjectKey(key);
    const ttl = resolveTtlSeconds(options.expiresInSeconds, this.config.SIGNED_URL_TTL_SECONDS);
    const signingDate = new Date(this.now());
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.prefix + key,
      ResponseContentDisposition:
        options.filename === undefined ? undefined : attachmentDisposition(options.filename),
    });
    const url = await getSignedUrl(this.client, command, { expiresIn: ttl, signingDate });
    return { url, expiresAt: new Date(signingDate.getTime() + ttl * 1000) };
  }

  async presignMultipartUpload(
    key: string,
    options: PresignMultipartUploadOptions,
  ): Promise<PresignedMultipartUpload> {
    validateObjectKey(key);
    const ttl = resolveTtlSeconds(options.expiresInSeconds, this.config.SIGNED_URL_TTL_SECONDS);
    const geometry = resolveMultipartGeometry(options.sizeBytes, options.partSize);
    const created = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.prefix + key,
        ContentType: options.contentType ?? DEFAULT_CONTENT_TYPE,
        Metadata: {
          [DECLARED_SIZE_META]: String(geometry.sizeBytes),
          [PART_SIZE_META]: String(geometry.partSize),
        },
      }),
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error(`S3 CreateMultipartUpload returned no UploadId for ${key}`);
    const signingDate = new Date(this.now());
    const parts = [];
    try {
      for (let partNumber = 1; partNumber <= geometry.partCount; partNumber++) {
        // A presigned PUT cannot bound its body (see PresignUploadOptions.maxBytes): sizes are
        // checked on completion instead.
        const url = await getSignedUrl(
          this.client,
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: this.prefix + key,
            UploadId: uploadId,
            PartNumber: partNumber,
          }),
          { expiresIn: ttl, signingDate },
        );
        parts.push({ partNumber, url, method: 'PUT' as const, headers: {} });
      }
    } catch (err) {
      await this.abortMultipartUpload(key, uploadId).catch(() => undefined);
      throw err;
    }
    return {
      uploadId,
      partSize: geometry.partSize,
      parts,
      expiresAt: new Date(signingDate.getTime() + ttl * 1000),
    };
  }

  /**
   * ListParts first (names a missing part or a wrong ETag before anything is assembled), then
   * CompleteMultipartUpload, then HeadObject against the declared size: a total S3 assembled
   * differently (a part of the wrong size) is only seen afterwards, so that object is deleted,
   * and with it whatever the key held before.
   */
  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
  ): Promise<CompletedMultipartUpload> {
    validateObjectKey(key);
    if (typeof uploadId !== 'string' || uploadId === '')
      throw new MultipartUploadNotFoundError(key, String(uploadId));
    const listed = normalizeCompletedParts(uploadId, parts);
    await this.checkUploadedParts(key, uploadId, listed);
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: listed.map((part) => ({ PartNumber: part.partNumber, ETag: `"${part.etag}"` })),
          },
        }),
      );
    } catch (err) {
      throw this.multipartError(key, uploadId, err);
    }

    // S3 bounds neither a part's size nor the total: compare the result with what was declared.
    const out = await this.client.send(
      new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
    );
    const sizeBytes = out.ContentLength ?? 0;
    const meta = out.Metadata ?? {};
    const declared = Number(meta[DECLARED_SIZE_META]);
    const partSize = Number(meta[PART_SIZE_META]);
    if (Number.isSafeInteger(declared) && declared > 0 && sizeBytes !== declared) {
      await this.delete(key);
      const hint =
        Number.isSafeInteger(partSize) && partSize > 0
          ? `; every part but the last must be exactly ${partSize} bytes, the last ${
              declared - (Math.ceil(declared / partSize) - 1) * partSize
            }`
          : '';
      throw new MultipartUploadError(
        uploadId,
        `assembled ${sizeBytes} bytes but ${declared} were declared${hint}; the object was removed`,
      );
    }
    return { key, sizeBytes };
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    validateObjectKey(key);
    if (typeof uploadId !== 'string' || uploadId === '') return;
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          UploadId: uploadId,
        }),
      );
    } catch (err) {
      if (errorName(err) === 'NoSuchUpload') return;
      throw err;
    }
  }

  /**
   * Checks the listed parts against ListParts before completing, for errors that name the part at
   * fault and sizes S3 would accept (an oversized part). Servers without ListParts (s3rver) skip
   * this; CompleteMultipartUpload still checks ETags and part sizes on AWS.
   */
  private async checkUploadedParts(
    key: string,
    uploadId: string,
    listed: readonly { partNumber: number; etag: string }[],
  ): Promise<void> {
    const uploaded = new Map<number, { etag: string; size: number }>();
    let marker: string | undefined;
    try {
      for (;;) {
        const page = await this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: this.prefix + key,
            UploadId: uploadId,
            PartNumberMarker: marker,
          }),
        );
        for (const part of page.Parts ?? []) {
          if (part.PartNumber === undefined) continue;
          uploaded.set(part.PartNumber, { etag: bareEtag(part.ETag ?? ''), size: part.Size ?? 0 });
        }
        if (!page.IsTruncated || !page.NextPartNumberMarker) break;
        marker = page.NextPartNumberMarker;
      }
    } catch (err) {
      if (isUnsupported(err)) {
        this.logger.debug({ uploadId }, 'S3 server has no ListParts; completing unchecked');
        return;
      }
      throw this.multipartError(key, uploadId, err);
    }
    const partSize = uploaded.get(1)?.size;
    for (const { partNumber, etag } of listed) {
      const part = uploaded.get(partNumber);
      if (part === undefined) {
        throw new MultipartUploadError(uploadId, `part ${partNumber} was not uploaded`, {
          partNumber,
        });
      }
      if (part.etag !== etag) {
        throw new MultipartUploadError(
          uploadId,
          `part ${partNumber}: ETag "${etag}" does not match the uploaded part ("${part.etag}")`,
          { partNumber },
        );
      }
      const last = partNumber === listed.length;
      if (partSize !== undefined && (last ? part.size > partSize : part.size !== partSize)) {
        throw new MultipartUploadError(
          uploadId,
          `part ${partNumber} is ${part.size} bytes; parts must all be ${partSize} bytes (the last at most)`,
          { partNumber },
        );
      }
    }
  }

  /** S3's multipart errors as this module's, with S3's own message kept. */
  private multipartError(key: string, uploadId: string, err: unknown): unknown {
    const name = errorName(err);
    if (name === 'NoSuchUpload')
      return new MultipartUploadNotFoundError(key, uploadId, { cause: err });
    if (name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'EntityTooSmall') {
      const message = err instanceof Error ? err.message : String(err);
      return new MultipartUploadError(uploadId, `${name}: ${message}`, { cause: err });
    }
    return err;
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
      this.logger.info({ bucket: this.bucket }, 'created S3 bucket');
    } catch (err) {
      // Another replica or test file may have created it between the two calls.
      const name = (err as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    }
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}

interface Spooled {
  sizeBytes: number;
  sha256: string;
  buffer?: Buffer;
  path?: string;
}

function spoolBuffer(key: string, body: Buffer, maxBytes: number): Spooled {
  if (body.length > maxBytes) throw new ObjectTooLargeError(key, maxBytes);
  return {
    sizeBytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    buffer: body,
  };
}

async function spoolStream(key: string, body: Readable, maxBytes: number): Promise<Spooled> {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let sizeBytes = 0;
  let path: string | undefined;
  let file: Awaited<ReturnType<typeof open>> | undefined;
  try {
    for await (const raw of body) {
      const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as string);
      sizeBytes += chunk.length;
      if (sizeBytes > maxBytes) {
        body.destroy();
        throw new ObjectTooLargeError(key, maxBytes);
      }
      hash.update(chunk);
      if (file) {
        await file.write(chunk);
      } else if (sizeBytes > S3_MEMORY_SPOOL_BYTES) {
        path = join(tmpdir(), `lotabots-s3-${randomUUID()}`);
        file = await open(path, 'wx', 0o600);
        for (const held of chunks) await file.write(held);
        chunks.length = 0;
        await file.write(chunk);
      } else {
        chunks.push(chunk);
      }
    }
    await file?.close();
    file = undefined;
  } catch (err) {
    await file?.close();
    if (path !== undefined) await rm(path, { force: true });
    throw err;
  }
  const sha256 = hash.digest('hex');
  return path === undefined
    ? { sizeBytes, sha256, buffer: Buffer.concat(chunks) }
    : { sizeBytes, sha256, path };
}

/**
 * The body of a ranged GetObject cut to exactly [start, end), trusting `Content-Range` rather than
 * the server: S3-compatible servers and proxies may ignore `Range` (whole object, no
 * Content-Range) or serve too much (s3rver reads `bytes=0-0` as `bytes=0-`, and answers a range of
 * an empty object with a body it never sends). A correct answer is passed through untouched.
 */
function exactRange(
  body: Readable,
  contentRange: string | undefined,
  start: number,
  end: number,
): Readable {
  const served = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
  let skip = start;
  if (served) {
    const [first, last, total] = [Number(served[1]), Number(served[2]), served[3]];
    if (total !== '*' && start >= Number(total)) {
      body.destroy();
      return Readable.from([]);
    }
    if (first === start && last <= end - 1) return body;
    if (first > start) {
      body.destroy();
      throw new Error(`S3 served bytes from ${first} for a range starting at ${start}`);
    }
    skip = start - first;
  }
  return Readable.from(slice(body, skip, end - start), { objectMode: false });
}

/** `take` bytes of `body` after skipping `skip`; stops reading (and destroys `body`) once done. */
async function* slice(body: Readable, skip: number, take: number): AsyncGenerator<Buffer> {
  if (take <= 0) {
    body.destroy();
    return;
  }
  for await (const raw of body) {
    let chunk = raw as Buffer;
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    chunk = chunk.subarray(skip, skip + take);
    skip = 0;
    take -= chunk.length;
    yield chunk;
    if (take === 0) return;
  }
}

function errorName(err: unknown): string | undefined {
  return err instanceof S3ServiceException ? err.name : undefined;
}

/** The requested range starts past the end of the object (416). */
function isInvalidRange(err: unknown): boolean {
  return (
    err instanceof S3ServiceException &&
    (err.name === 'InvalidRange' || err.$metadata.httpStatusCode === 416)
  );
}

/** The S3-compatible server does not implement the operation (s3rver: ListParts, 405). */
function isUnsupported(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  const status = err.$metadata.httpStatusCode;
  return (
    err.name === 'NotImplemented' ||
    err.name === 'MethodNotAllowed' ||
    status === 405 ||
    status === 501
  );
}

function isMissing(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    // A missing bucket is a deployment error, not a missing object; let it surface as such.
    if (err.name === 'NoSuchBucket') return false;
    return (
      err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound'
    );
  }
  return false;
}
