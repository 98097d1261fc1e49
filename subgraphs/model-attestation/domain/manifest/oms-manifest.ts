import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';

/**
 * The digest manifest of the OpenSSF model signing specification (OMS), as `model_signing` v1.x
 * (sigstore/model-transparency) computes it: every file of a model, or every shard of every file,
 * paired with its SHA-256, sorted, and summarised by one SHA-256 over the digests. The manifest
 * is what a model signature (signing/model-signature.ts) signs, and what verification recomputes.
 *
 * Hashing runs on a small pool of worker threads. A file that is on local disk is read by the
 * worker itself, so its bytes never cross threads; any other file is streamed by this thread and
 * its chunks are transferred (not copied) to the worker hashing that shard, with a bounded number
 * of bytes in flight so that memory stays flat whatever the model's size.
 */

/** One file of the model. */
export interface ManifestFile {
  /** Path relative to the model root, `/`-separated. */
  path: string;
  size: number;
  /**
   * Reads [start, end) as a stream. The chunks it yields are handed over: their ArrayBuffers are
   * transferred to a hashing thread when a chunk spans its whole buffer, so yield fresh buffers
   * (as `fs.createReadStream` and network bodies do), never views of memory the caller keeps.
   */
  open(start: number, end: number): NodeJS.ReadableStream | Readable;
  /** When the bytes are a local file, its absolute path: workers then read it themselves. */
  localPath?: string;
}

export interface ManifestOptions {
  /** `shards` (default): one resource per `shardSize` bytes of each file; `files`: one per file. */
  method?: 'shards' | 'files';
  /** Bytes per shard; default 1,000,000,000, `model_signing`'s default. */
  shardSize?: number;
  /** Hashing threads; default `os.availableParallelism()`. */
  workers?: number;
  /** Paths (files or folders, relative to the model root) left out of the manifest. */
  ignorePaths?: string[];
  /** Also leave out {@link DEFAULT_IGNORE_PATHS} (default true, as `model_signing` does). */
  ignoreDefaultPaths?: boolean;
  /** Called as bytes are hashed (at most every 64 MiB or 250 ms) and once at the end. */
  onProgress?: (hashedBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

/**
 * One entry of the manifest. `algorithm` is what `model_signing` records: `sha256` for a whole
 * file, `sha256-sharded-<shard size>` for a shard (its ShardedFileHasher's digest name).
 */
export interface ManifestResource {
  name: string;
  algorithm: ResourceAlgorithm;
  /** Hex. */
  digest: string;
}

export type ResourceAlgorithm = 'sha256' | `sha256-sharded-${number}`;

export interface ManifestSerialization {
  method: 'shards' | 'files';
  hash_type: 'sha256';
  shard_size?: number;
  allow_symlinks: false;
  ignore_paths: string[];
}

export interface Manifest {
  /** The `serialization` object of the signed predicate, as `model_signing` writes it. */
  serialization: ManifestSerialization;
  /** Sorted as `model_signing` sorts them (see {@link compareResourceNames}). */
  resources: ManifestResource[];
  /** sha256 over the concatenated resource digests (raw bytes), hex */
  subjectDigest: string;
  /** Bytes hashed: the sizes of the files not ignored. */
  totalBytes: number;
}

/** `model_signing`'s default shard size (hashing.Config.use_shard_serialization). */
export const DEFAULT_SHARD_SIZE = 1_000_000_000;

/**
 * Left out unless `ignoreDefaultPaths: false`: the git paths `model_signing`'s hashing config
 * ignores by default, and `model.sig`, the signature file its CLI writes into the model folder
 * and leaves out when signing and verifying.
 */
export const DEFAULT_IGNORE_PATHS: readonly string[] = [
  '.git',
  '.gitattributes',
  '.github',
  '.gitignore',
  'model.sig',
];

/** Bytes a worker reads per call: large enough to amortise syscalls, small enough for L2/L3. */
const READ_CHUNK = 1 << 20;
/** A worker reports progress after this many bytes of one shard. */
const WORKER_REPORT_BYTES = 8 << 20;
/** Streamed bytes sent to a worker and not yet hashed, per shard, before reading pauses. */
const MAX_IN_FLIGHT = 16 << 20;
/** Small local shards are queued on a busy worker up to this many bytes, to hide round trips. */
const QUEUE_BYTES = 4 << 20;
const QUEUE_TASKS = 32;
const PROGRESS_BYTES = 64 << 20;
const PROGRESS_MS = 250;

/**
 * Plain CommonJS so it needs no TypeScript loader: it runs the same under tsx, vitest and node.
 * Local files are read synchronously: a worker is a thread of its own, and synchronous reads skip
 * the libuv pool's round trip; abort terminates the worker mid-read.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const buffer = Buffer.allocUnsafe(workerData.readChunk);
const streams = new Map();
function hashFile(m) {
  const hash = createHash('sha256');
  const fd = fs.openSync(m.path, 'r');
  try {
    let position = m.start;
    let unreported = 0;
    while (position < m.end) {
      const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, m.end - position), position);
      if (n === 0) {
        throw new Error(m.name + ' ended at byte ' + position + ' of ' + m.end + ': did it change while being hashed?');
      }
      hash.update(buffer.subarray(0, n));
      position += n;
      unreported += n;
      if (unreported >= workerData.reportBytes) {
        parentPort.postMessage({ type: 'progress', id: m.id, bytes: unreported });
        unreported = 0;
      }
    }
    parentPort.postMessage({ type: 'done', id: m.id, digest: hash.digest('hex'), bytes: unreported });
  } finally {
    fs.closeSync(fd);
  }
}
parentPort.on('message', (m) => {
  try {
    if (m.type === 'file') hashFile(m);
    else if (m.type === 'begin') streams.set(m.id, createHash('sha256'));
    else if (m.type === 'chunk') {
      const view = new Uint8Array(m.buffer);
      streams.get(m.id).update(view);
      parentPort.postMessage({ type: 'ack', id: m.id, bytes: view.byteLength });
    } else if (m.type === 'end') {
      const hash = streams.get(m.id);
      streams.delete(m.id);
      parentPort.postMessage({ type: 'done', id: m.id, digest: hash.digest('hex'), bytes: 0 });
    }
  } catch (error) {
    streams.delete(m.id);
    parentPort.postMessage({ type: 'error', id: m.id, message: String((error && error.message) || error) });
  }
});
`;

interface Task {
  id: number;
  file: ManifestFile;
  /** Normalised path. */
  path: string;
  name: string;
  start: number;
  end: number;
}

type WorkerMessage =
  | { type: 'progress' | 'ack'; id: number; bytes: number }
  | { type: 'done'; id: number; digest: string; bytes: number }
  | { type: 'error'; id: number; message: string };

interface PoolWorker {
  worker: Worker;
  queued: Set<Task>;
  queuedBytes: number;
}

/**
 * Computes the OMS manifest of a model's files. Rejects on a bad path, a size that does not match
 * the bytes read, a read error, or abort (with the signal's reason); the worker pool is gone
 * before the promise settles.
 */
export async function computeManifest(
  files: ManifestFile[],
  options: ManifestOptions = {},
): Promise<Manifest> {
  const method = options.method ?? 'shards';
  const shardSize = options.shardSize ?? DEFAULT_SHARD_SIZE;
  if (method !== 'shards' && method !== 'files') {
    throw new TypeError(`unknown method ${JSON.stringify(method)}`);
  }
  if (!Number.isSafeInteger(shardSize) || shardSize <= 0) {
    throw new RangeError(`shardSize must be a positive integer, got ${shardSize}`);
  }
  const ignorePaths = [
    ...(options.ignoreDefaultPaths === false ? [] : DEFAULT_IGNORE_PATHS),
    ...(options.ignorePaths ?? []).map((p) => normalisePath(p, 'ignore path')),
  ];
  const serialization: ManifestSerialization =
    method === 'shards'
      ? {
          method,
          hash_type: 'sha256',
          shard_size: shardSize,
          allow_symlinks: false,
          ignore_paths: [...new Set(ignorePaths)].sort(compareCodePoints),
        }
      : {
          method,
          hash_type: 'sha256',
          allow_symlinks: false,
          ignore_paths: [...new Set(ignorePaths)].sort(compareCodePoints),
        };
  const algorithm: ResourceAlgorithm =
    method === 'shards' ? `sha256-sharded-${shardSize}` : 'sha256';

  const seen = new Set<string>();
  const included: { file: ManifestFile; path: string }[] = [];
  for (const file of files) {
    const path = normalisePath(file.path, 'file path');
    if (!Number.isSafeInteger(file.size) || file.size < 0) {
      throw new RangeError(`${path}: size must be a non-negative integer, got ${file.size}`);
    }
    if (seen.has(path)) throw new Error(`${path} is listed twice`);
    seen.add(path);
    if (isIgnored(path, ignorePaths)) continue;
    // model_signing splits shard names on ':' and could not read this one back.
    if (method === 'shards' && path.includes(':')) {
      throw new Error(`${path}: shard serialization cannot name a path that contains ':'`);
    }
    included.push({ file, path });
  }
  const localChecks = included
    .filter(({ file }) => file.localPath !== undefined)
    .map(async ({ file, path }) => {
      const onDisk = (await stat(file.localPath as string)).size;
      if (onDisk !== file.size) {
        throw new Error(`${path}: listed as ${file.size} bytes, ${onDisk} on disk`);
      }
    });
  await Promise.all(localChecks);

  const tasks: Task[] = [];
  for (const { file, path } of included) {
    if (method === 'files') {
      tasks.push({ id: tasks.length, file, path, name: path, start: 0, end: file.size });
      continue;
    }
    // As model_signing's file_shard serializer: an empty file has no shard, the last is short.
    for (let start = 0; start < file.size; start += shardSize) {
      const end = Math.min(start + shardSize, file.size);
      tasks.push({ id: tasks.length, file, path, name: `${path}:${start}:${end}`, start, end });
    }
  }
  const totalBytes = included.reduce((sum, { file }) => sum + file.size, 0);
  const digests = await hashTasks(tasks, totalBytes, options);

  const resources = tasks
    .map((task) => ({ task, resource: { name: task.name, algorithm, digest: digests[task.id] } }))
    .sort((a, b) => compareTasks(a.task, b.task))
    .map(({ resource }) => resource as ManifestResource);
  return {
    serialization,
    resources,
    subjectDigest: subjectDigestOf(resources.map((r) => r.digest)),
    totalBytes,
  };
}

/** SHA-256 over the raw bytes of the given hex digests, in order: the manifest's subject digest. */
export function subjectDigestOf(hexDigests: Iterable<string>): string {
  const hash = createHash('sha256');
  for (const digest of hexDigests) hash.update(Buffer.from(digest, 'hex'));
  return hash.digest('hex');
}

/**
 * Orders resource names as `model_signing` does: it sorts its manifest keys, which compare as
 * (PurePosixPath, start, end). A PurePosixPath compares component by component (so `a/b` sorts
 * before `a-b`), Python strings by code point, and shard offsets as numbers (so `f:2:4` sorts
 * before `f:10:12`). `shards` tells whether the names end in `:start:end`.
 */
export function compareResourceNames(a: string, b: string, shards: boolean): number {
  if (!shards) return comparePaths(a, b);
  const pa = parseShardName(a);
  const pb = parseShardName(b);
  if (!pa || !pb) return compareCodePoints(a, b);
  return comparePaths(pa.path, pb.path) || pa.start - pb.start || pa.end - pb.end;
}

/** Splits `path:start:end`; null when the name is not of that form. */
export function parseShardName(name: string): { path: string; start: number; end: number } | null {
  const match = /^(.*):(\d+):(\d+)$/s.exec(name);
  if (!match) return null;
  return { path: match[1] as string, start: Number(match[2]), end: Number(match[3]) };
}

/** Whether `path` is one of `ignorePaths` or lies under one of them. */
export function isIgnored(path: string, ignorePaths: readonly string[]): boolean {
  return ignorePaths.some((ignored) => path === ignored || path.startsWith(`${ignored}/`));
}

function compareTasks(a: Task, b: Task): number {
  return comparePaths(a.path, b.path) || a.start - b.start || a.end - b.end;
}

function comparePaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i += 1) {
    const order = compareCodePoints(pa[i] as string, pb[i] as string);
    if (order !== 0) return order;
  }
  return pa.length - pb.length;
}

/** JavaScript compares UTF-16 code units; Python compares code points (differs past U+FFFF). */
function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return ca.done ? (cb.done ? 0 : -1) : 1;
    const order = (ca.value.codePointAt(0) as number) - (cb.value.codePointAt(0) as number);
    if (order !== 0) return order;
  }
}

/** As PurePosixPath renders a relative path: no `.` parts, no empty parts, no trailing slash. */
function normalisePath(raw: string, what: string): string {
  if (typeof raw !== 'string' || raw.includes('\0')) throw new TypeError(`bad ${what}: ${raw}`);
  if (raw.startsWith('/')) throw new Error(`${what} must be relative to the model root: ${raw}`);
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new Error(`${what} must stay inside the model: ${raw}`);
  if (parts.length === 0) throw new Error(`empty ${what}: ${JSON.stringify(raw)}`);
  return parts.join('/');
}

/** The signal's reason when it is an Error (an AbortError by default), else one wrapping it. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException(
    reason === undefined ? 'This operation was aborted' : `Aborted: ${JSON.stringify(reason)}`,
    'AbortError',
  );
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Hashes every task on a worker pool; resolves to the hex digests indexed by task id. */
async function hashTasks(
  tasks: Task[],
  totalBytes: number,
  options: ManifestOptions,
): Promise<string[]> {
  const { signal, onProgress } = options;
  if (signal?.aborted) throw abortReason(signal);
  const digests: string[] = new Array<string>(tasks.length);
  if (tasks.length === 0) {
    onProgress?.(0, totalBytes);
    return digests;
  }

  let hashed = 0;
  let reportedBytes = 0;
  let reportedAt = Date.now();
  const progress = (bytes: number): void => {
    hashed += bytes;
    if (!onProgress) return;
    const now = Date.now();
    if (hashed - reportedBytes >= PROGRESS_BYTES || now - reportedAt >= PROGRESS_MS) {
      reportedBytes = hashed;
      reportedAt = now;
      onProgress(hashed, totalBytes);
    }
  };

  // Largest first, so that the last shards to finish are small ones and the threads end together.
  const pending = [...tasks].sort((a, b) => b.end - b.start - (a.end - a.start));
  const streamed = new Map<number, StreamedShard>();
  const poolSize = Math.max(1, Math.min(options.workers ?? availableParallelism(), tasks.length));
  const pool: PoolWorker[] = [];
  let remaining = tasks.length;
  let failed = false;

  return new Promise<string[]>((resolve, reject) => {
    const finish = (error: Error | undefined): void => {
      if (failed) return;
      failed = true;
      signal?.removeEventListener('abort', onAbort);
      for (const shard of streamed.values()) shard.cancel(error);
      void Promise.all(pool.map(({ worker }) => worker.terminate())).then(
        () => (error === undefined ? resolve(digests) : reject(error)),
        () => (error === undefined ? resolve(digests) : reject(error)),
      );
    };
    const onAbort = (): void => finish(abortReason(signal as AbortSignal));
    signal?.addEventListener('abort', onAbort, { once: true });

    const dispatch = (slot: PoolWorker): void => {
      for (let next = pending[0]; !failed && next !== undefined; next = pending[0]) {
        const size = next.end - next.start;
        const fits =
          slot.queued.size === 0 ||
          (next.file.localPath !== undefined &&
            slot.queuedBytes + size <= QUEUE_BYTES &&
            slot.queued.size < QUEUE_TASKS);
        if (!fits) return;
        pending.shift();
        slot.queued.add(next);
        slot.queuedBytes += size;
        if (next.file.localPath !== undefined) {
          slot.worker.postMessage({
            type: 'file',
            id: next.id,
            name: next.name,
            path: next.file.localPath,
            start: next.start,
            end: next.end,
          });
        } else {
          const shard = new StreamedShard(next, slot.worker);
          streamed.set(next.id, shard);
          shard.run().catch((error: unknown) => finish(asError(error)));
        }
      }
    };

    for (let i = 0; i < poolSize; i += 1) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        // Without this the worker would inherit `--import tsx` and load it for nothing.
        execArgv: [],
        workerData: { readChunk: READ_CHUNK, reportBytes: WORKER_REPORT_BYTES },
      });
      const slot: PoolWorker = { worker, queued: new Set(), queuedBytes: 0 };
      pool.push(slot);
      const onMessage = (message: WorkerMessage): void => {
        const task = tasks[message.id] as Task;
        switch (message.type) {
          case 'progress':
            progress(message.bytes);
            return;
          case 'ack':
            progress(message.bytes);
            streamed.get(message.id)?.acknowledge(message.bytes);
            return;
          case 'error':
            finish(new Error(`${task.name}: ${message.message}`));
            return;
          case 'done':
            progress(message.bytes);
            digests[message.id] = message.digest;
            streamed.delete(message.id);
            slot.queued.delete(task);
            slot.queuedBytes -= task.end - task.start;
            remaining -= 1;
            if (remaining === 0) {
              onProgress?.(totalBytes, totalBytes);
              finish(undefined);
            } else {
              dispatch(slot);
            }
        }
      };
      worker.on('message', (message: WorkerMessage) => {
        if (failed) return;
        // A throwing onProgress callback fails the computation instead of crashing the process.
        try {
          onMessage(message);
        } catch (error) {
          finish(asError(error));
        }
      });
      worker.on('error', (error) => finish(error));
      worker.on('exit', (code) => {
        if (!failed) finish(new Error(`a hashing worker exited (code ${code})`));
      });
    }
    for (const slot of pool) dispatch(slot);
  });
}

/** One shard streamed through this thread to a worker, with bounded bytes in flight. */
class StreamedShard {
  private inFlight = 0;
  private resume: (() => void) | undefined;
  private stream: (NodeJS.ReadableStream | Readable) | undefined;
  private cancelled: Error | undefined;

  constructor(
    private readonly task: Task,
    private readonly worker: Worker,
  ) {}

  async run(): Promise<void> {
    const { task } = this;
    const expected = task.end - task.start;
    this.worker.postMessage({ type: 'begin', id: task.id });
    const opened = task.file.open(task.start, task.end);
    // An old-style stream has no async iterator; Readable.wrap gives it one.
    const stream =
      Symbol.asyncIterator in opened ? opened : new Readable({ objectMode: true }).wrap(opened);
    this.stream = stream;
    let received = 0;
    for await (const chunk of stream as AsyncIterable<unknown>) {
      if (this.cancelled !== undefined) throw this.cancelled;
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(`${task.name}: the stream yielded a ${typeof chunk}, not bytes`);
      }
      received += chunk.byteLength;
      if (received > expected) {
        throw new Error(
          `${task.name}: the stream yielded more than the ${expected} bytes asked for`,
        );
      }
      if (chunk.byteLength === 0) continue;
      const buffer = transferable(chunk);
      this.inFlight += buffer.byteLength;
      this.worker.postMessage({ type: 'chunk', id: task.id, buffer }, [buffer]);
      if (this.inFlight > MAX_IN_FLIGHT) {
        await new Promise<void>((resolve) => (this.resume = resolve));
      }
    }
    if (this.cancelled !== undefined) throw this.cancelled;
    if (received !== expected) {
      throw new Error(`${task.name}: the stream ended after ${received} of ${expected} bytes`);
    }
    this.worker.postMessage({ type: 'end', id: task.id });
  }

  acknowledge(bytes: number): void {
    this.inFlight -= bytes;
    if (this.resume && this.inFlight <= MAX_IN_FLIGHT / 2) {
      const resume = this.resume;
      this.resume = undefined;
      resume();
    }
  }

  cancel(reason: Error | undefined): void {
    this.cancelled = reason ?? new Error('cancelled');
    const stream = this.stream as { destroy?: (error?: Error) => void } | undefined;
    stream?.destroy?.();
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
  }
}

/**
 * The chunk's own ArrayBuffer when the chunk spans all of it (moved, not copied); otherwise a copy,
 * since moving a view's buffer would take memory that still belongs to someone else (a Buffer
 * pool slab, a caller's array).
 */
function transferable(chunk: Uint8Array): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = chunk;
  if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength) {
    return buffer;
  }
  const copy = new ArrayBuffer(byteLength);
  new Uint8Array(copy).set(chunk);
  return copy;
}
