import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
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
  resolveMaxBytes,
  resolveTtlSeconds,
  validateObjectKey,
} from './keys.ts';
import {
  ObjectNotFoundError,
  ObjectTooLargeError,
  type ObjectHead,
  type ObjectStore,
  type ObjectStoreOptions,
  type PresignDownloadOptions,
  type PresignedDownload,
  type PresignedUpload,
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
 * Objects in an S3 bucket (AWS or any S3-compatible store through `S3_ENDPOINT`), every key
 * prefixed with `S3_KEY_PREFIX`.
 *
 * `put` with a stream: PutObject needs the length up front and multipart uploads need
 * `@aws-sdk/lib-storage`, which is not a dependency. So the stream is read once, hashed and
 * counted on the way, kept in memory up to `S3_MEMORY_SPOOL_BYTES` and spooled to a temp file
 * beyond that, then sent with a known Content-Length. Memory stays bounded whatever the size; the
 * ceiling is a single PutObject's 5 GiB. The SHA-256 is also stored as `x-amz-meta-sha256`.
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
