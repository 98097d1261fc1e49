import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  computeManifest,
  DEFAULT_SHARD_SIZE,
  type ManifestFile,
} from '../../../subgraphs/model-attestation/domain/manifest/oms-manifest.ts';
import { createModelDir, seededBytes, type ModelDir } from '../../support/model-files.ts';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const subjectOf = (digests: string[]): string =>
  sha256(Buffer.concat(digests.map((d) => Buffer.from(d, 'hex'))));

let model: ModelDir | undefined;
afterEach(() => {
  model?.cleanup();
  model = undefined;
});

// Sizes 0, 1, 999, 1000, 1001 and 5000 around a 1000-byte shard; 11,500 bytes gives offsets that
// sort differently as numbers and as text; `a/b.bin` and `a-b.bin` sort differently by path
// component and by string. Git paths and model.sig at the root are ignored, a nested .git is not.
const CONTENTS: Record<string, Buffer> = {
  'empty.bin': Buffer.alloc(0),
  'one.bin': seededBytes(1, 'one'),
  'a/b.bin': seededBytes(999, 'a/b'),
  'B1000.bin': seededBytes(1000, 'B'),
  'a-b.bin': seededBytes(1001, 'a-b'),
  'weights/big.bin': seededBytes(5000, 'big'),
  'weights/long.bin': seededBytes(11_500, 'long'),
  'sub/.git/keep': seededBytes(3, 'keep'),
  '.git/config': Buffer.from('[core]\n'),
  '.git/objects/ab/cdef': seededBytes(50, 'object'),
  '.gitattributes': Buffer.from('*.bin filter=lfs\n'),
  '.gitignore': Buffer.from('*.tmp\n'),
  '.github/workflows/ci.yml': Buffer.from('on: push\n'),
  'model.sig': Buffer.from('{}'),
};

/** The order model_signing gives these paths: by path component, code point order. */
const PATH_ORDER = [
  'B1000.bin',
  'a/b.bin',
  'a-b.bin',
  'empty.bin',
  'one.bin',
  'sub/.git/keep',
  'weights/big.bin',
  'weights/long.bin',
];

/** Expected shard resources, computed here by slicing the bytes. */
function expectedShards(shardSize: number): { name: string; digest: string }[] {
  return PATH_ORDER.flatMap((path) => {
    const bytes = CONTENTS[path] as Buffer;
    const out: { name: string; digest: string }[] = [];
    for (let start = 0; start < bytes.length; start += shardSize) {
      const end = Math.min(bytes.length, start + shardSize);
      out.push({ name: `${path}:${start}:${end}`, digest: sha256(bytes.subarray(start, end)) });
    }
    return out;
  });
}

describe('computeManifest (OMS v1.0 shards)', () => {
  it('names shards path:start:end, sorts them as model_signing does and digests them', async () => {
    model = createModelDir(CONTENTS);
    const manifest = await computeManifest(model.files('local'), { shardSize: 1000 });
    const expected = expectedShards(1000);

    expect(manifest.resources.map((r) => r.name)).toEqual(expected.map((r) => r.name));
    expect(manifest.resources).toEqual(
      expected.map((r) => ({ ...r, algorithm: 'sha256-sharded-1000' })),
    );
    // Spot checks of the ordering rules, against plain string sorting.
    const names = manifest.resources.map((r) => r.name);
    expect(names.indexOf('a/b.bin:0:999')).toBeLessThan(names.indexOf('a-b.bin:0:1000'));
    expect(names.indexOf('weights/long.bin:2000:3000')).toBeLessThan(
      names.indexOf('weights/long.bin:10000:11000'),
    );
    expect(names).toContain('weights/long.bin:11000:11500');
    expect(names).toContain('one.bin:0:1');
    expect(names.some((n) => n.startsWith('empty.bin'))).toBe(false);
    expect(names.some((n) => n.startsWith('.git') || n.startsWith('model.sig'))).toBe(false);
    expect(names).toContain('sub/.git/keep:0:3');

    expect(manifest.subjectDigest).toBe(subjectOf(expected.map((r) => r.digest)));
    expect(manifest.totalBytes).toBe(1 + 999 + 1000 + 1001 + 5000 + 11_500 + 3);
    expect(manifest.serialization).toEqual({
      method: 'shards',
      hash_type: 'sha256',
      shard_size: 1000,
      allow_symlinks: false,
      ignore_paths: ['.git', '.gitattributes', '.github', '.gitignore', 'model.sig'],
    });
  });

  it('gives the same manifest whether workers read the files or the bytes are streamed', async () => {
    model = createModelDir(CONTENTS);
    const local = await computeManifest(model.files('local'), { shardSize: 1000, workers: 2 });
    const streamed = await computeManifest(model.files('stream'), { shardSize: 1000, workers: 2 });
    const oneWorker = await computeManifest(model.files('stream'), { shardSize: 1000, workers: 1 });
    expect(streamed).toEqual(local);
    expect(oneWorker).toEqual(local);
  });

  it('defaults to 1,000,000,000-byte shards, one per file this small', async () => {
    model = createModelDir(CONTENTS);
    const manifest = await computeManifest(model.files('local'));
    expect(DEFAULT_SHARD_SIZE).toBe(1_000_000_000);
    expect(manifest.serialization.shard_size).toBe(1_000_000_000);
    expect(manifest.resources.map((r) => r.name)).toEqual(
      PATH_ORDER.filter((p) => (CONTENTS[p] as Buffer).length > 0).map(
        (p) => `${p}:0:${(CONTENTS[p] as Buffer).length}`,
      ),
    );
    expect(manifest.resources[0]?.algorithm).toBe('sha256-sharded-1000000000');
  });

  it('reproduces model_signing golden manifests (sample_model_folder)', async () => {
    // tests/_signing/testdata/signing/TestPayload/sample_model_folder{,_small_shards} in
    // sigstore/model-transparency, over the files its conftest.py writes.
    const contents: Record<string, Buffer> = {};
    for (const i of [0, 1]) {
      for (const j of [0, 1, 2]) {
        contents[`d${i}/f${i}${j}`] = Buffer.from(`This is file f${i}${j} in d${i}.`);
      }
    }
    for (const i of [0, 1, 2, 3]) contents[`f${i}`] = Buffer.from(`This is file f${i} in root.`);
    model = createModelDir(contents);

    const shards = await computeManifest(model.files('local'), { shardSize: 8 });
    expect(shards.subjectDigest).toBe(
      '2139af57fd2a4f324ac7cd0fc04898cce73d0871b363c8eb3fc07ab7da4c8445',
    );
    expect(shards.resources[2]).toEqual({
      name: 'd0/f00:16:23',
      algorithm: 'sha256-sharded-8',
      digest: '003b089e217915b12ca9509b2f8a01be7cfe662ffadeb1cd3cf3f430c7b9773a',
    });
    const files = await computeManifest(model.files('stream'), { method: 'files' });
    expect(files.subjectDigest).toBe(
      '143cc682e555951649f18e2761c3d526d2502996f5e32dc187ef7f8a614f8df7',
    );
    expect(files.resources[0]).toEqual({
      name: 'd0/f00',
      algorithm: 'sha256',
      digest: 'fdd8925354242a7fd1515e79534317b800015607a609cd306e0b4dcfe6c92249',
    });
  });

  it('honours ignorePaths (files and folders) and records them', async () => {
    model = createModelDir(CONTENTS);
    const manifest = await computeManifest(model.files('local'), {
      shardSize: 1000,
      ignorePaths: ['weights/', './one.bin'],
    });
    const paths = new Set(manifest.resources.map((r) => r.name.split(':')[0]));
    expect(paths).toEqual(new Set(['B1000.bin', 'a/b.bin', 'a-b.bin', 'sub/.git/keep']));
    expect(manifest.serialization.ignore_paths).toEqual([
      '.git',
      '.gitattributes',
      '.github',
      '.gitignore',
      'model.sig',
      'one.bin',
      'weights',
    ]);

    const everything = await computeManifest(model.files('local'), {
      shardSize: 1000,
      ignoreDefaultPaths: false,
    });
    expect(everything.resources.map((r) => r.name)).toContain('.git/config:0:7');
    expect(everything.serialization.ignore_paths).toEqual([]);
  });
});

describe('computeManifest (OMS v1.0 files)', () => {
  it('digests each whole file, empty ones included', async () => {
    model = createModelDir(CONTENTS);
    const manifest = await computeManifest(model.files('local'), { method: 'files' });
    const expected = PATH_ORDER.map((path) => ({
      name: path,
      algorithm: 'sha256',
      digest: sha256(CONTENTS[path] as Buffer),
    }));
    expect(manifest.resources).toEqual(expected);
    expect(manifest.resources.find((r) => r.name === 'empty.bin')?.digest).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(manifest.subjectDigest).toBe(subjectOf(expected.map((r) => r.digest)));
    expect(manifest.serialization).toEqual({
      method: 'files',
      hash_type: 'sha256',
      allow_symlinks: false,
      ignore_paths: ['.git', '.gitattributes', '.github', '.gitignore', 'model.sig'],
    });
    expect(await computeManifest(model.files('stream'), { method: 'files' })).toEqual(manifest);
  });
});

describe('computeManifest progress, errors and abort', () => {
  it('reports progress up to the total', async () => {
    const big = Buffer.alloc(3 << 20, 'progress');
    model = createModelDir({ 'w.bin': big, 'x.bin': seededBytes(12345, 'x') });
    for (const mode of ['local', 'stream'] as const) {
      const calls: [number, number][] = [];
      const manifest = await computeManifest(model.files(mode), {
        shardSize: 1 << 20,
        onProgress: (hashed, total) => calls.push([hashed, total]),
      });
      expect(calls.at(-1)).toEqual([big.length + 12345, big.length + 12345]);
      expect(
        calls.every(([hashed], i) => i === 0 || hashed >= (calls[i - 1] as number[])[0]!),
      ).toBe(true);
      expect(manifest.resources).toHaveLength(4);
    }
  });

  it('fails, rather than crashing, when onProgress throws', async () => {
    model = createModelDir({ 'a.bin': seededBytes(100, 'a') });
    await expect(
      computeManifest(model.files('local'), {
        onProgress: () => {
          throw new Error('progress sink broke');
        },
      }),
    ).rejects.toThrow('progress sink broke');
  });

  it('rejects a model whose bytes do not match the listed sizes', async () => {
    model = createModelDir({ 'a.bin': seededBytes(100, 'a') });
    const [file] = model.files('local') as [ManifestFile];
    await expect(computeManifest([{ ...file, size: 120 }])).rejects.toThrow(
      'a.bin: listed as 120 bytes, 100 on disk',
    );
    const { localPath: _ignored, ...streamed } = file;
    await expect(
      computeManifest([{ ...streamed, size: 120 }], { method: 'files' }),
    ).rejects.toThrow('a.bin: the stream ended after 100 of 120 bytes');
    const tooLong: ManifestFile = {
      path: 'x',
      size: 4,
      open: () => Readable.from([Buffer.from('12345')]),
    };
    await expect(computeManifest([tooLong])).rejects.toThrow('more than the 4 bytes');
  });

  it('rejects bad paths', async () => {
    const file = (path: string): ManifestFile => ({ path, size: 0, open: () => Readable.from([]) });
    await expect(computeManifest([file('../etc/passwd')])).rejects.toThrow('inside the model');
    await expect(computeManifest([file('/abs')])).rejects.toThrow('relative');
    await expect(computeManifest([file('a'), file('./a')])).rejects.toThrow('listed twice');
    await expect(computeManifest([{ ...file('c:d'), size: 1 }])).rejects.toThrow("contains ':'");
  });

  it('aborts: an already aborted signal, and one aborted mid-stream', async () => {
    model = createModelDir({ 'a.bin': seededBytes(1000, 'a') });
    await expect(
      computeManifest(model.files('local'), { signal: AbortSignal.abort() }),
    ).rejects.toThrow(/abort/i);

    let destroyed = false;
    const endless: ManifestFile = {
      path: 'endless.bin',
      size: 1 << 30,
      open: () => {
        const stream = new Readable({
          read() {
            setTimeout(() => this.push(Buffer.alloc(64 << 10)), 1);
          },
        });
        stream.on('close', () => (destroyed = true));
        return stream;
      },
    };
    const controller = new AbortController();
    const pending = computeManifest([endless], { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toThrow(/abort/i);
    expect(destroyed).toBe(true);
  });

  it('aborts while a worker reads a local file', async () => {
    // Progress is reported every 64 MiB, so the first call comes halfway through this file.
    model = createModelDir({ 'w.bin': Buffer.alloc(128 << 20, 7) });
    const controller = new AbortController();
    const seen: number[] = [];
    const pending = computeManifest(model.files('local'), {
      workers: 1,
      signal: controller.signal,
      onProgress: (hashed, total) => {
        seen.push(hashed);
        if (hashed < total) controller.abort(new Error('stop hashing'));
      },
    });
    await expect(pending).rejects.toThrow('stop hashing');
    expect(seen).toHaveLength(1);
  });

  it('handles an empty model', async () => {
    const manifest = await computeManifest([]);
    expect(manifest.resources).toEqual([]);
    expect(manifest.subjectDigest).toBe(sha256(Buffer.alloc(0)));
  });
});
