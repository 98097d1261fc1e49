import { createHash, randomBytes, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import {
  access,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import {
  normalizeCompletedParts,
  partLength,
  resolveMaxBytes,
  resolveMultipartGeometry,
  resolveTtlSeconds,
  validateObjectKey,
  validateRange,
  type MultipartGeometry,
} from './keys.ts';
import { buildSignedUrl } from './signing.ts';
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

type FilesystemConfig = Pick<Config, 'dataDir' | 'secret' | 'publicUrl' | 'SIGNED_URL_TTL_SECONDS'>;

interface Meta {
  key: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  storedAt: string;
}

/** What the staging dir of a multipart upload records at presign time (`upload.json`). */
interface UploadManifest extends MultipartGeometry {
  key: string;
  contentType: string;
  createdAt: string;
}

/** A stored part of a multipart upload, as `putPart` reports it. */
export interface StoredPart {
  partNumber: number;
  sizeBytes: number;
  /** Lowercase hex MD5 of the part, unquoted (the HTTP handler sends it quoted). */
  etag: string;
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Upload ids this store makes: 128 random bits, hex. Anything else is refused before any I/O. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;
const MD5_HEX = /^[0-9a-f]{32}$/;

/**
 * Objects as files under `<dataDir>/objects/`.
 *
 * Files are named by the SHA-256 of the key rather than by the key itself: S3 lets `a` and `a/b`
 * coexist, a directory tree cannot, and hashed names also rule out any path trick. Each object is
 * `<h[0..2]>/<h>` plus a `<h>.json` sidecar holding its key and content type. Writes go to a temp
 * file in the same tree and are renamed into place, so readers never see half an object.
 *
 * Multipart uploads are staged in `<root>/.multipart/<uploadId>/`: `upload.json` (key, declared
 * size, part size, content type) and `<partNumber>/<md5 of the part>` per uploaded part. Object
 * files only ever live in two-hex-character directories, so no key can reach the staging area
 * (nor `.tmp`). Naming a part by its MD5 ties the ETag to the bytes: completion needs no re-hash.
 */
export class FilesystemObjectStore implements ObjectStore {
  readonly kind = 'filesystem' as const;
  readonly root: string;
  /** Where multipart uploads are staged until completed or aborted. */
  readonly multipartRoot: string;
  private readonly tmpDir: string;
  private readonly now: () => number;

  constructor(
    private readonly config: FilesystemConfig,
    private readonly logger: Logger,
    options: ObjectStoreOptions = {},
  ) {
    this.root = join(config.dataDir, 'objects');
    this.tmpDir = join(this.root, '.tmp');
    this.multipartRoot = join(this.root, '.multipart');
    this.now = options.now ?? Date.now;
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
    validateObjectKey(key);
    const maxBytes = resolveMaxBytes(options.maxBytes);
    if (Buffer.isBuffer(body) && body.length > maxBytes)
      throw new ObjectTooLargeError(key, maxBytes);
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    return this.write(key, source, options.contentType ?? DEFAULT_CONTENT_TYPE, maxBytes);
  }

  /** `put` without the single-PUT size cap, for assembled multipart uploads. */
  private async write(
    key: string,
    source: Readable,
    contentType: string,
    maxBytes: number,
  ): Promise<PutResult> {
    const { dir, data, meta } = this.paths(key);
    await mkdir(dir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });

    const tmp = join(this.tmpDir, randomUUID());
    const hash = createHash('sha256');
    const meter = metered(hash, maxBytes, () => new ObjectTooLargeError(key, maxBytes));
    try {
      await pipeline(source, meter, createWriteStream(tmp, { flags: 'wx' }));
      // fsync before rename: after a crash the name must not point at a file with missing data.
      const handle = await open(tmp, 'r+');
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
      const sha256 = hash.digest('hex');
      const sizeBytes = meter.bytes;
      const record: Meta = {
        key,
        contentType,
        sizeBytes,
        sha256,
        storedAt: new Date().toISOString(),
      };
      const metaTmp = `${tmp}.json`;
      await writeFile(metaTmp, JSON.stringify(record), { flag: 'wx' });
      await rename(tmp, data);
      await rename(metaTmp, meta);
      return { key, sizeBytes, sha256 };
    } catch (err) {
      await rm(tmp, { force: true });
      await rm(`${tmp}.json`, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Readable> {
    validateObjectKey(key);
    try {
      // Opening first turns a missing file into a typed error before any stream exists.
      const handle = await open(this.paths(key).data, 'r');
      return handle.createReadStream();
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key, { cause: err });
      throw err;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Readable> {
    validateObjectKey(key);
    validateRange(start, end);
    let handle;
    try {
      handle = await open(this.paths(key).data, 'r');
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key, { cause: err });
      throw err;
    }
    try {
      const last = Math.min(end, (await handle.stat()).size) - 1;
      if (start > last) {
        await handle.close();
        return Readable.from([]);
      }
      // The stream owns the handle from here and closes it when done (`end` is inclusive there).
      return handle.createReadStream({ start, end: last });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async head(key: string): Promise<ObjectHead | null> {
    validateObjectKey(key);
    const { data, meta } = this.paths(key);
    let sizeBytes: number;
    try {
      sizeBytes = (await stat(data)).size;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    return {
      sizeBytes,
      contentType: (await this.readMeta(meta))?.contentType ?? DEFAULT_CONTENT_TYPE,
    };
  }

  async delete(key: string): Promise<void> {
    validateObjectKey(key);
    const { data, meta } = this.paths(key);
    await rm(data, { force: true });
    await rm(meta, { force: true });
  }

  presignUpload(key: string, options: PresignUploadOptions = {}): Promise<PresignedUpload> {
    return settle(() => this.signUpload(key, options));
  }

  presignDownload(key: string, options: PresignDownloadOptions = {}): Promise<PresignedDownload> {
    return settle(() => this.signDownload(key, options));
  }

  private signUpload(key: string, options: PresignUploadOptions): PresignedUpload {
    validateObjectKey(key);
    const ttl = resolveTtlSeconds(options.expiresInSeconds, this.config.SIGNED_URL_TTL_SECONDS);
    const maxBytes = resolveMaxBytes(options.maxBytes);
    const exp = Math.floor(this.now() / 1000) + ttl;
    const url = buildSignedUrl(this.config.publicUrl, this.config.secret, {
      op: 'put',
      key,
      exp,
      maxBytes,
      contentType: options.contentType,
    });
    const headers: Record<string, string> = {};
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    return { url, method: 'PUT', headers, expiresAt: new Date(exp * 1000) };
  }

  async presignMultipartUpload(
    key: string,
    options: PresignMultipartUploadOptions,
  ): Promise<PresignedMultipartUpload> {
    validateObjectKey(key);
    const ttl = resolveTtlSeconds(options.expiresInSeconds, this.config.SIGNED_URL_TTL_SECONDS);
    const geometry = resolveMultipartGeometry(options.sizeBytes, options.partSize);
    const uploadId = randomBytes(16).toString('hex');
    const manifest: UploadManifest = {
      key,
      ...geometry,
      contentType: options.contentType ?? DEFAULT_CONTENT_TYPE,
      createdAt: new Date().toISOString(),
    };
    const staging = this.stagingDir(uploadId);
    await mkdir(staging, { recursive: true });
    await writeFile(join(staging, 'upload.json'), JSON.stringify(manifest), { flag: 'wx' });

    const exp = Math.floor(this.now() / 1000) + ttl;
    const parts = Array.from({ length: geometry.partCount }, (_, index) => {
      const partNumber = index + 1;
      const url = buildSignedUrl(this.config.publicUrl, this.config.secret, {
        op: 'put-part',
        key,
        exp,
        maxBytes: partLength(geometry, partNumber),
        uploadId,
        partNumber,
      });
      return { partNumber, url, method: 'PUT' as const, headers: {} };
    });
    return { uploadId, partSize: geometry.partSize, parts, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Stores one part of a multipart upload (the HTTP handler's `put-part` URLs land here). The body
   * must be exactly the part's length: longer fails with `ObjectTooLargeError` as soon as it is
   * seen, shorter with `MultipartUploadError`; either way nothing is kept. Uploading a part again
   * replaces it.
   */
  async putPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
  ): Promise<StoredPart> {
    validateObjectKey(key);
    const manifest = await this.readManifest(key, uploadId);
    if (!Number.isSafeInteger(partNumber) || partNumber < 1 || partNumber > manifest.partCount) {
      throw new MultipartUploadError(
        uploadId,
        `part number must be between 1 and ${manifest.partCount}, got ${partNumber}`,
      );
    }
    const expected = partLength(manifest, partNumber);
    const partDir = join(this.stagingDir(uploadId), String(partNumber));
    try {
      await mkdir(partDir);
    } catch (err) {
      // ENOENT: the upload was completed or aborted after the manifest was read.
      if (isNotFound(err)) throw new MultipartUploadNotFoundError(key, uploadId, { cause: err });
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const tmp = join(partDir, `${randomUUID()}.tmp`);
    const hash = createHash('md5');
    const meter = metered(hash, expected, () => new ObjectTooLargeError(key, expected));
    try {
      await pipeline(body, meter, createWriteStream(tmp, { flags: 'wx' }));
      if (meter.bytes !== expected) {
        throw new MultipartUploadError(
          uploadId,
          `part ${partNumber} is ${meter.bytes} bytes; it must be exactly ${expected}`,
          { partNumber },
        );
      }
      const etag = hash.digest('hex');
      await rename(tmp, join(partDir, etag));
      // An earlier upload of the same part is superseded, as on S3.
      for (const name of await readdir(partDir)) {
        if (name !== etag && MD5_HEX.test(name)) await rm(join(partDir, name), { force: true });
      }
      return { partNumber, sizeBytes: expected, etag };
    } catch (err) {
      await rm(tmp, { force: true });
      if (isNotFound(err)) throw new MultipartUploadNotFoundError(key, uploadId, { cause: err });
      throw err;
    }
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
  ): Promise<CompletedMultipartUpload> {
    validateObjectKey(key);
    const manifest = await this.readManifest(key, uploadId);
    const listed = normalizeCompletedParts(uploadId, parts);
    if (listed.length !== manifest.partCount) {
      throw new MultipartUploadError(
        uploadId,
        listed.length < manifest.partCount
          ? `part ${listed.length + 1} of ${manifest.partCount} is missing from the list`
          : `the upload has ${manifest.partCount} parts, ${listed.length} were listed`,
      );
    }
    const staging = this.stagingDir(uploadId);
    const files: string[] = [];
    for (const { partNumber, etag } of listed) {
      const partDir = join(staging, String(partNumber));
      const file = join(partDir, etag);
      let size: number | undefined;
      if (MD5_HEX.test(etag)) {
        try {
          size = (await stat(file)).size;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      if (size === undefined) {
        const stored = await readdir(partDir).then(
          (names) => names.filter((name) => MD5_HEX.test(name)),
          () => [],
        );
        throw new MultipartUploadError(
          uploadId,
          stored.length === 0
            ? `part ${partNumber} was not uploaded`
            : `part ${partNumber}: ETag "${etag}" does not match the uploaded part ("${stored[0]}")`,
          { partNumber },
        );
      }
      const expected = partLength(manifest, partNumber);
      if (size !== expected) {
        throw new MultipartUploadError(
          uploadId,
          `part ${partNumber} is ${size} bytes; it must be exactly ${expected}`,
          { partNumber },
        );
      }
      files.push(file);
    }

    // Streamed part after part through `put`'s own path (hash, fsync, atomic rename).
    const assembled = Readable.from(concatFiles(files), { objectMode: false });
    const stored = await this.write(key, assembled, manifest.contentType, manifest.sizeBytes);
    if (stored.sizeBytes !== manifest.sizeBytes) {
      // Only possible if a part file changed under us; the object is already replaced.
      await this.delete(key);
      throw new MultipartUploadError(
        uploadId,
        `assembled ${stored.sizeBytes} bytes, ${manifest.sizeBytes} were declared`,
      );
    }
    await rm(staging, { recursive: true, force: true }).catch((err: unknown) => {
      this.logger.warn({ err, uploadId }, 'could not remove multipart staging');
    });
    return { key, sizeBytes: stored.sizeBytes };
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    validateObjectKey(key);
    try {
      await this.readManifest(key, uploadId);
    } catch (err) {
      if (err instanceof MultipartUploadNotFoundError) return;
      throw err;
    }
    await rm(this.stagingDir(uploadId), { recursive: true, force: true });
  }

  private stagingDir(uploadId: string): string {
    return join(this.multipartRoot, uploadId);
  }

  /** The upload's manifest, or `MultipartUploadNotFoundError` (also for another key's upload). */
  private async readManifest(key: string, uploadId: string): Promise<UploadManifest> {
    // Checked before the id becomes part of a path.
    if (typeof uploadId !== 'string' || !UPLOAD_ID.test(uploadId)) {
      throw new MultipartUploadNotFoundError(key, String(uploadId));
    }
    let manifest: UploadManifest;
    try {
      manifest = JSON.parse(
        await readFile(join(this.stagingDir(uploadId), 'upload.json'), 'utf8'),
      ) as UploadManifest;
    } catch (err) {
      if (isNotFound(err)) throw new MultipartUploadNotFoundError(key, uploadId, { cause: err });
      throw err;
    }
    if (manifest.key !== key) throw new MultipartUploadNotFoundError(key, uploadId);
    return manifest;
  }

  private signDownload(key: string, options: PresignDownloadOptions): PresignedDownload {
    validateObjectKey(key);
    const ttl = resolveTtlSeconds(options.expiresInSeconds, this.config.SIGNED_URL_TTL_SECONDS);
    const exp = Math.floor(this.now() / 1000) + ttl;
    const url = buildSignedUrl(this.config.publicUrl, this.config.secret, {
      op: 'get',
      key,
      exp,
      filename: options.filename,
    });
    return { url, expiresAt: new Date(exp * 1000) };
  }

  async ensureBucket(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
  }

  async ping(): Promise<void> {
    await this.ensureBucket();
    await access(this.root);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private paths(key: string): { dir: string; data: string; meta: string } {
    const name = createHash('sha256').update(key).digest('hex');
    const dir = join(this.root, name.slice(0, 2));
    return { dir, data: join(dir, name), meta: join(dir, `${name}.json`) };
  }

  private async readMeta(path: string): Promise<Meta | null> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as Meta;
    } catch (err) {
      // A missing or torn sidecar only costs the content type; the bytes are still served.
      if (!isNotFound(err)) this.logger.warn({ err, path }, 'unreadable object metadata');
      return null;
    }
  }
}

/** A pass-through that hashes and counts, failing with `tooLarge()` past `limit` bytes. */
function metered(hash: Hash, limit: number, tooLarge: () => Error): Transform & { bytes: number } {
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      meter.bytes += chunk.length;
      if (meter.bytes > limit) {
        callback(tooLarge());
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  }) as Transform & { bytes: number };
  meter.bytes = 0;
  return meter;
}

/** The files' bytes one after the other, read as streams (never whole into memory). */
async function* concatFiles(files: readonly string[]): AsyncGenerator<Buffer> {
  for (const file of files) {
    for await (const chunk of createReadStream(file)) yield chunk as Buffer;
  }
}

/** Runs synchronous work so that its exceptions become rejections, as callers of a Promise expect. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
