import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { resolveMaxBytes, resolveTtlSeconds, validateObjectKey } from './keys.ts';
import { buildSignedUrl } from './signing.ts';
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

type FilesystemConfig = Pick<Config, 'dataDir' | 'secret' | 'publicUrl' | 'SIGNED_URL_TTL_SECONDS'>;

interface Meta {
  key: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  storedAt: string;
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/**
 * Objects as files under `<dataDir>/objects/`.
 *
 * Files are named by the SHA-256 of the key rather than by the key itself: S3 lets `a` and `a/b`
 * coexist, a directory tree cannot, and hashed names also rule out any path trick. Each object is
 * `<h[0..2]>/<h>` plus a `<h>.json` sidecar holding its key and content type. Writes go to a temp
 * file in the same tree and are renamed into place, so readers never see half an object.
 */
export class FilesystemObjectStore implements ObjectStore {
  readonly kind = 'filesystem' as const;
  readonly root: string;
  private readonly tmpDir: string;
  private readonly now: () => number;

  constructor(
    private readonly config: FilesystemConfig,
    private readonly logger: Logger,
    options: ObjectStoreOptions = {},
  ) {
    this.root = join(config.dataDir, 'objects');
    this.tmpDir = join(this.root, '.tmp');
    this.now = options.now ?? Date.now;
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
    validateObjectKey(key);
    const maxBytes = resolveMaxBytes(options.maxBytes);
    if (Buffer.isBuffer(body) && body.length > maxBytes)
      throw new ObjectTooLargeError(key, maxBytes);
    const { dir, data, meta } = this.paths(key);
    await mkdir(dir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });

    const tmp = join(this.tmpDir, randomUUID());
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sizeBytes += chunk.length;
        if (sizeBytes > maxBytes) {
          callback(new ObjectTooLargeError(key, maxBytes));
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      await pipeline(source, meter, createWriteStream(tmp, { flags: 'wx' }));
      // fsync before rename: after a crash the name must not point at a file with missing data.
      const handle = await open(tmp, 'r+');
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
      const sha256 = hash.digest('hex');
      const contentType = options.contentType ?? DEFAULT_CONTENT_TYPE;
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
