/**
 * Small model folders on disk for the integrity tests: write files into a temp dir, then list
 * them as `ManifestFile`s read either by the hashing workers (localPath) or streamed.
 */
import { createHash } from 'node:crypto';
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { ManifestFile } from '../../subgraphs/model-attestation/domain/manifest/oms-manifest.ts';

export interface ModelDir {
  dir: string;
  /** Writes (or overwrites) one file, creating its folders. */
  write(path: string, bytes: Buffer): void;
  remove(path: string): void;
  /** Every regular file under the folder, as manifest input. */
  files(mode: 'local' | 'stream'): ManifestFile[];
  cleanup(): void;
}

/** Deterministic bytes for a seed: a SHA-256 counter stream, so tests need no fixtures. */
export function seededBytes(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, block = 0; offset < size; offset += 32, block += 1) {
    createHash('sha256').update(`${seed}:${block}`).digest().copy(out, offset);
  }
  return out;
}

/** A temp folder holding `contents` (path → bytes). */
export function createModelDir(contents: Record<string, Buffer> = {}): ModelDir {
  const dir = mkdtempSync(join(tmpdir(), 'lotabots-model-'));
  const model: ModelDir = {
    dir,
    write(path, bytes) {
      const full = join(dir, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, bytes);
    },
    remove(path) {
      rmSync(join(dir, path));
    },
    files(mode) {
      return listFiles(dir).map((full) => {
        const path = relative(dir, full).split(sep).join('/');
        const size = statSync(full).size;
        return {
          path,
          size,
          open: (start: number, end: number) =>
            // createReadStream's end is inclusive, so it cannot express an empty range.
            end > start
              ? createReadStream(full, { start, end: end - 1, highWaterMark: 4096 })
              : Readable.from([]),
          ...(mode === 'local' ? { localPath: full } : {}),
        };
      });
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const [path, bytes] of Object.entries(contents)) model.write(path, bytes);
  return model;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return listFiles(full);
    return entry.isFile() ? [full] : [];
  });
}
