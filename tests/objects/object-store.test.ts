import { AbortMultipartUploadCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import {
  createObjectHttpHandler,
  createObjectStore,
  FilesystemObjectStore,
  InvalidObjectKeyError,
  MultipartUploadError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  S3ObjectStore,
  type CompletedPart,
  type ObjectHttpHandler,
  type ObjectStore,
  type PresignedMultipartUpload,
} from '../../platform/objects/index.ts';
import {
  DEFAULT_PART_BYTES,
  MAX_PARTS,
  MIN_PART_BYTES,
  resolveMultipartGeometry,
} from '../../platform/objects/keys.ts';
import { backends, testConfig } from '../support/config.ts';

// The same contract on whichever store the environment selects: files (default) or S3 (CI sets
// S3_BUCKET and friends, e.g. against `node scripts/s3-server.mjs`).
describe(`object store (${backends.objects})`, () => {
  let server: Server;
  let config: Config;
  let store: ObjectStore;
  /** Signs URLs with a clock an hour behind, so they are already expired. */
  let pastStore: ObjectStore;
  /**
   * What the S3 server implements beyond the basics. AWS and MinIO have both; s3rver (the CI
   * server) has neither ListParts nor AbortMultipartUpload, and its CompleteMultipartUpload checks
   * no ETags (and never answers when a listed part was not uploaded).
   */
  const s3Server = { listsParts: true, abortsUploads: true };

  beforeAll(async () => {
    // The filesystem store's signed URLs point at PUBLIC_URL, known only once the server listens.
    const routes: { objects?: ObjectHttpHandler } = {};
    server = createServer((req, res) => {
      void (async () => {
        if (!(await routes.objects?.(req, res))) res.writeHead(404).end('not an object URL');
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    config = testConfig({ PUBLIC_URL: `http://127.0.0.1:${port}` });
    const logger = createLogger(config);
    store = createObjectStore(config, logger);
    await store.ensureBucket();
    pastStore = createObjectStore(config, logger, { now: () => Date.now() - 3600_000 });
    routes.objects = createObjectHttpHandler(store, config, logger);
    if (store instanceof S3ObjectStore) {
      const probe = { Bucket: store.bucket, Key: `${config.S3_KEY_PREFIX}probe`, UploadId: 'none' };
      s3Server.listsParts = await answersNoSuchUpload(store, new ListPartsCommand(probe));
      s3Server.abortsUploads = await answersNoSuchUpload(
        store,
        new AbortMultipartUploadCommand(probe),
      );
    }
  });

  afterAll(async () => {
    await store?.close();
    await pastStore?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('selects the backend the configuration names', () => {
    expect(store.kind).toBe(backends.objects);
  });

  it('round-trips put / head / get / delete', async () => {
    const body = Buffer.from('{"verdict":"PASS"}');
    const put = await store.put('reports/r1.json', body, { contentType: 'application/json' });
    expect(put).toEqual({ key: 'reports/r1.json', sizeBytes: body.length, sha256: sha256(body) });
    expect(await store.head('reports/r1.json')).toEqual({
      sizeBytes: body.length,
      contentType: 'application/json',
    });
    expect(await readAll(await store.get('reports/r1.json'))).toEqual(body);

    await store.delete('reports/r1.json');
    expect(await store.head('reports/r1.json')).toBeNull();
    await expect(store.get('reports/r1.json')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.delete('reports/r1.json')).resolves.toBeUndefined();
  });

  it('reports a missing object as NotFound and null', async () => {
    await expect(store.get('never/written')).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
    expect(await store.head('never/written')).toBeNull();
  });

  it('streams a Readable body and hashes it on the way', async () => {
    // Over 8 MiB, so the S3 store spools to a temp file rather than memory.
    const chunks = Array.from({ length: 9 }, () => randomBytes(1024 * 1024 + 7));
    const whole = Buffer.concat(chunks);
    const put = await store.put('models/big.bin', Readable.from(chunks));
    expect(put.sizeBytes).toBe(whole.length);
    expect(put.sha256).toBe(sha256(whole));
    expect(await store.head('models/big.bin')).toEqual({
      sizeBytes: whole.length,
      contentType: 'application/octet-stream',
    });
    const back = await readAll(await store.get('models/big.bin'));
    expect(sha256(back)).toBe(put.sha256);
    await store.delete('models/big.bin');
  });

  it('replaces an existing object', async () => {
    await store.put('docs/a.txt', Buffer.from('first'), { contentType: 'text/plain' });
    await store.put('docs/a.txt', Buffer.from('second, longer'), { contentType: 'text/markdown' });
    expect(await store.head('docs/a.txt')).toEqual({ sizeBytes: 14, contentType: 'text/markdown' });
    expect((await readAll(await store.get('docs/a.txt'))).toString()).toBe('second, longer');
  });

  it('keeps a key and a key below it apart', async () => {
    await store.put('nest', Buffer.from('parent'));
    await store.put('nest/child', Buffer.from('child'));
    expect((await readAll(await store.get('nest'))).toString()).toBe('parent');
    expect((await readAll(await store.get('nest/child'))).toString()).toBe('child');
  });

  it('refuses bodies over maxBytes and stores nothing', async () => {
    await expect(
      store.put('limits/buf', Buffer.alloc(11), { maxBytes: 10 }),
    ).rejects.toBeInstanceOf(ObjectTooLargeError);
    const stream = Readable.from([Buffer.alloc(6), Buffer.alloc(6)]);
    await expect(store.put('limits/stream', stream, { maxBytes: 10 })).rejects.toMatchObject({
      code: 'OBJECT_TOO_LARGE',
      maxBytes: 10,
    });
    expect(await store.head('limits/buf')).toBeNull();
    expect(await store.head('limits/stream')).toBeNull();
    const exact = await store.put('limits/exact', Readable.from([Buffer.alloc(10)]), {
      maxBytes: 10,
    });
    expect(exact.sizeBytes).toBe(10);
  });

  it.each([
    ['empty', ''],
    ['absolute', '/etc/passwd'],
    ['parent segment', 'a/../b'],
    ['bare parent', '..'],
    ['dot segment', './a'],
    ['NUL', 'a\u0000b'],
    ['newline', 'a\nb'],
    ['DEL', 'a\u007fb'],
    ['over 1024 bytes', 'k'.repeat(1025)],
    ['over 1024 bytes in UTF-8', 'é'.repeat(513)],
  ])('rejects a bad key (%s)', async (_name, key) => {
    await expect(store.put(key, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store.get(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store.head(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store.delete(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store.presignUpload(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store.presignDownload(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store.getRange(key, 0, 1)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store.presignMultipartUpload(key, { sizeBytes: 1 })).rejects.toBeInstanceOf(
      InvalidObjectKeyError,
    );
    await expect(
      store.completeMultipartUpload(key, 'u', [{ partNumber: 1, etag: 'e' }]),
    ).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store.abortMultipartUpload(key, 'u')).rejects.toBeInstanceOf(
      InvalidObjectKeyError,
    );
  });

  it('accepts keys with spaces, unicode and punctuation, and exactly 1024 bytes', async () => {
    // Segments stay under 255 bytes: s3rver stores keys as file paths and cannot go longer.
    const longest = Array.from({ length: 5 }, () => 'k'.repeat(204)).join('/');
    expect(Buffer.byteLength(longest)).toBe(1024);
    for (const key of ['docs/2024 Q1/résumé (final) #2.pdf', 'a..b/c', longest]) {
      await store.put(key, Buffer.from(key));
      expect((await readAll(await store.get(key))).toString()).toBe(key);
    }
  });

  it('uploads and downloads through signed URLs', async () => {
    const body = Buffer.from(JSON.stringify({ model: 'llama', layers: 32 }));
    const upload = await store.presignUpload('signed/model card.json', {
      contentType: 'application/json',
      maxBytes: 1024,
      expiresInSeconds: 120,
    });
    expect(upload.method).toBe('PUT');
    expect(upload.headers).toEqual({ 'content-type': 'application/json' });
    expect(upload.expiresAt.getTime()).toBeGreaterThan(Date.now() + 100_000);
    const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body });
    expect(put.status).toBe(200);
    expect(await store.head('signed/model card.json')).toEqual({
      sizeBytes: body.length,
      contentType: 'application/json',
    });

    const download = await store.presignDownload('signed/model card.json', {
      filename: 'card.json',
    });
    const got = await fetch(download.url);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/json');
    expect(got.headers.get('content-disposition')).toContain('card.json');
    expect(Buffer.from(await got.arrayBuffer())).toEqual(body);
  });

  it('refuses expired signed URLs with 403', async () => {
    await store.put('signed/old.txt', Buffer.from('old'));
    const download = await pastStore.presignDownload('signed/old.txt', { expiresInSeconds: 60 });
    expect(download.expiresAt.getTime()).toBeLessThan(Date.now());
    const got = await fetch(download.url);
    expect(got.status).toBe(403);
    const upload = await pastStore.presignUpload('signed/old.txt', { expiresInSeconds: 60 });
    const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: 'new' });
    expect(put.status).toBe(403);
    if (store.kind === 'filesystem') {
      expect(await got.json()).toEqual({
        error: { code: 'FORBIDDEN', message: 'signed URL expired' },
      });
    }
    expect((await readAll(await store.get('signed/old.txt'))).toString()).toBe('old');
  });

  it('refuses a signed URL whose key was changed', async () => {
    await store.put('signed/mine.txt', Buffer.from('mine'));
    const download = await store.presignDownload('signed/mine.txt');
    const got = await fetch(download.url.replace('mine.txt', 'nope.txt'));
    // AWS answers 403 (signature mismatch). s3rver does not check SigV4 signatures at all and
    // answers 404 for the missing key; the filesystem handler answers 403.
    expect(got.ok).toBe(false);
    if (store.kind === 'filesystem') expect(got.status).toBe(403);
  });

  it('enforces maxBytes on signed uploads where the backend can', async () => {
    const upload = await store.presignUpload('signed/limited.bin', { maxBytes: 16 });
    const put = await fetch(upload.url, {
      method: 'PUT',
      headers: upload.headers,
      body: Buffer.alloc(17),
    });
    if (store.kind === 'filesystem') {
      expect(put.status).toBe(413);
      expect(await store.head('signed/limited.bin')).toBeNull();
    } else {
      // A presigned S3 PUT cannot carry a size range: the caller checks head() after the upload.
      expect(put.status).toBe(200);
      expect((await store.head('signed/limited.bin'))?.sizeBytes).toBe(17);
    }
  });

  it('answers ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  describe('ranged reads', () => {
    const body = randomBytes(1000);
    beforeAll(async () => {
      await store.put('range/blob.bin', body);
      await store.put('range/empty.bin', Buffer.alloc(0));
    });

    it.each([
      ['the middle', 100, 200, body.subarray(100, 200)],
      ['the start', 0, 1, body.subarray(0, 1)],
      ['to the end', 900, 1000, body.subarray(900)],
      ['the whole object', 0, 1000, body],
      ['past the end (clamped)', 950, 5000, body.subarray(950)],
      ['from the last byte', 999, 1_000_000, body.subarray(999)],
      ['starting at the end (empty)', 1000, 1010, Buffer.alloc(0)],
      ['starting past the end (empty)', 2000, 3000, Buffer.alloc(0)],
      ['of no bytes (empty)', 10, 10, Buffer.alloc(0)],
    ])('reads %s', async (_name, start, end, expected) => {
      expect(await readAll(await store.getRange('range/blob.bin', start, end))).toEqual(expected);
    });

    it('reads nothing from an empty object', async () => {
      expect(await readAll(await store.getRange('range/empty.bin', 0, 10))).toEqual(
        Buffer.alloc(0),
      );
    });

    it('reports a missing object as NotFound, even for an empty range', async () => {
      await expect(store.getRange('range/missing', 0, 10)).rejects.toBeInstanceOf(
        ObjectNotFoundError,
      );
      await expect(store.getRange('range/missing', 5, 5)).rejects.toBeInstanceOf(
        ObjectNotFoundError,
      );
    });

    it.each([
      ['a negative start', -1, 10, /start must be a non-negative integer, got -1/],
      ['a NaN start', Number.NaN, 10, /start must be a non-negative integer, got NaN/],
      ['a NaN end', 0, Number.NaN, /end must be a non-negative integer, got NaN/],
      ['a fractional end', 0, 1.5, /end must be a non-negative integer/],
      ['an end before the start', 20, 10, /end \(10\) must not be before its start \(20\)/],
    ])('refuses %s', async (_name, start, end, message) => {
      await expect(store.getRange('range/blob.bin', start, end)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(message) as string,
      });
    });
  });

  describe('multipart uploads through signed URLs', () => {
    // The smallest parts S3 accepts: two full 5 MiB parts and a short last one.
    const bodies = [randomBytes(MIN_PART_BYTES), randomBytes(MIN_PART_BYTES), randomBytes(1024)];
    const whole = Buffer.concat(bodies);
    const start = (key: string) =>
      store.presignMultipartUpload(key, {
        sizeBytes: whole.length,
        partSize: MIN_PART_BYTES,
        contentType: 'application/x-safetensors',
        expiresInSeconds: 300,
      });

    it('signs one PUT per part, uploads with plain fetch and assembles the object', async () => {
      const upload = await start('mp/model.safetensors');
      expect(upload.partSize).toBe(MIN_PART_BYTES);
      expect(upload.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
      expect(upload.parts.every((p) => p.method === 'PUT')).toBe(true);
      expect(upload.expiresAt.getTime()).toBeGreaterThan(Date.now() + 200_000);
      if (store instanceof FilesystemObjectStore) {
        expect(existsSync(join(store.multipartRoot, upload.uploadId))).toBe(true);
      }

      const parts = await putParts(upload, bodies);
      expect(parts.every((p) => /^"?[0-9a-f]{32}"?$/.test(p.etag))).toBe(true);
      // Nothing is visible under the key until the upload is completed.
      expect(await store.head('mp/model.safetensors')).toBeNull();

      const done = await store.completeMultipartUpload(
        'mp/model.safetensors',
        upload.uploadId,
        [...parts].reverse(), // any order: the store sorts them
      );
      expect(done).toEqual({ key: 'mp/model.safetensors', sizeBytes: whole.length });
      expect(await store.head('mp/model.safetensors')).toEqual({
        sizeBytes: whole.length,
        contentType: 'application/x-safetensors',
      });
      expect(sha256(await readAll(await store.get('mp/model.safetensors')))).toBe(sha256(whole));
      // A range across the first part boundary.
      const across = await store.getRange(
        'mp/model.safetensors',
        MIN_PART_BYTES - 10,
        MIN_PART_BYTES + 10,
      );
      expect(await readAll(across)).toEqual(
        whole.subarray(MIN_PART_BYTES - 10, MIN_PART_BYTES + 10),
      );
      if (store instanceof FilesystemObjectStore) {
        expect(existsSync(join(store.multipartRoot, upload.uploadId))).toBe(false);
      }
      // Completed uploads are gone (s3rver answers InternalError rather than NoSuchUpload).
      const again = store.completeMultipartUpload('mp/model.safetensors', upload.uploadId, parts);
      if (s3Server.listsParts)
        await expect(again).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
      else await expect(again).rejects.toThrow();
    });

    it('accepts ETags quoted or bare', async () => {
      const upload = await start('mp/bare-etags.bin');
      const parts = await putParts(upload, bodies);
      const bare = parts.map((p) => ({ ...p, etag: p.etag.replace(/"/g, '') }));
      await expect(
        store.completeMultipartUpload('mp/bare-etags.bin', upload.uploadId, bare),
      ).resolves.toEqual({ key: 'mp/bare-etags.bin', sizeBytes: whole.length });
    });

    it('refuses a wrong ETag with a clear error and stores nothing', async ({ skip }) => {
      if (!s3Server.listsParts) skip('s3rver does not check part ETags');
      const upload = await start('mp/wrong-etag.bin');
      const parts = await putParts(upload, bodies);
      const wrong = parts.map((p) =>
        p.partNumber === 2 ? { ...p, etag: '"0123456789abcdef0123456789abcdef"' } : p,
      );
      const err = await store
        .completeMultipartUpload('mp/wrong-etag.bin', upload.uploadId, wrong)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MultipartUploadError);
      expect(err).toMatchObject({ code: 'MULTIPART_UPLOAD_INVALID', partNumber: 2 });
      expect((err as Error).message).toMatch(/part 2: ETag "0123456789abcdef0123456789abcdef"/);
      expect(await store.head('mp/wrong-etag.bin')).toBeNull();
      // The upload is still open: completing with the right ETags works.
      await store.completeMultipartUpload('mp/wrong-etag.bin', upload.uploadId, parts);
      expect((await store.head('mp/wrong-etag.bin'))?.sizeBytes).toBe(whole.length);
    });

    it('refuses a missing part with a clear error and stores nothing', async () => {
      const upload = await start('mp/missing.bin');
      const parts = await putParts(upload, bodies.slice(0, 2));

      // All parts listed, one never uploaded (s3rver would wait forever for it).
      if (s3Server.listsParts) {
        await expect(
          store.completeMultipartUpload('mp/missing.bin', upload.uploadId, [
            ...parts,
            { partNumber: 3, etag: '"0123456789abcdef0123456789abcdef"' },
          ]),
        ).rejects.toThrow(/part 3 was not uploaded/);
      }
      // A gap in the list is caught before asking the backend.
      await expect(
        store.completeMultipartUpload('mp/missing.bin', upload.uploadId, [
          parts[0]!,
          { partNumber: 3, etag: parts[1]!.etag },
        ]),
      ).rejects.toThrow(/part 2 is missing from the list/);
      // The last part left out: the filesystem store knows the part count; S3 assembles what it
      // is given and the store removes the result, which is shorter than declared.
      await expect(
        store.completeMultipartUpload('mp/missing.bin', upload.uploadId, parts),
      ).rejects.toThrow(
        /part 3 of 3 is missing from the list|assembled 10485760 bytes but 10486784 were declared/,
      );
      expect(await store.head('mp/missing.bin')).toBeNull();
    });

    it('refuses a part of the wrong size and stores nothing', async () => {
      const upload = await start('mp/oversized.bin');
      const longer = [bodies[0]!, bodies[1]!, randomBytes(1025)];
      if (store.kind === 'filesystem') {
        // The handler holds each part to its signed size: see http-handler.test.ts for the 413.
        const put = await fetch(upload.parts[2]!.url, { method: 'PUT', body: longer[2] });
        expect(put.status).toBe(413);
        const parts = await putParts(upload, bodies.slice(0, 2));
        await expect(
          store.completeMultipartUpload('mp/oversized.bin', upload.uploadId, [
            ...parts,
            { partNumber: 3, etag: '"0123456789abcdef0123456789abcdef"' },
          ]),
        ).rejects.toThrow(/part 3 was not uploaded/);
      } else {
        // A presigned S3 PUT cannot bound its body: completion compares with the declared size.
        const parts = await putParts(upload, longer);
        await expect(
          store.completeMultipartUpload('mp/oversized.bin', upload.uploadId, parts),
        ).rejects.toThrow(/assembled 10486785 bytes but 10486784 were declared/);
      }
      expect(await store.head('mp/oversized.bin')).toBeNull();
    });

    it('aborts an upload and discards its parts', async ({ skip }) => {
      if (!s3Server.abortsUploads) skip('s3rver has no AbortMultipartUpload');
      const upload = await start('mp/aborted.bin');
      const parts = await putParts(upload, bodies.slice(0, 1));
      await store.abortMultipartUpload('mp/aborted.bin', upload.uploadId);
      if (store instanceof FilesystemObjectStore) {
        expect(existsSync(join(store.multipartRoot, upload.uploadId))).toBe(false);
      }
      await expect(
        store.completeMultipartUpload('mp/aborted.bin', upload.uploadId, parts),
      ).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
      expect(await store.head('mp/aborted.bin')).toBeNull();
      // Aborting again, or an upload that never existed, is not an error.
      await expect(store.abortMultipartUpload('mp/aborted.bin', upload.uploadId)).resolves.toBe(
        undefined,
      );
    });

    it.each([
      ['sizeBytes 0', { sizeBytes: 0 }, /sizeBytes must be an integer of at least 1, got 0/],
      ['a fractional sizeBytes', { sizeBytes: 1.5 }, /sizeBytes must be an integer/],
      [
        'parts under 5 MiB',
        { sizeBytes: 10, partSize: MIN_PART_BYTES - 1 },
        /partSize must be an integer between 5242880 and 5368709120, got 5242879/,
      ],
      [
        'over 10,000 parts',
        { sizeBytes: (MAX_PARTS + 1) * MIN_PART_BYTES, partSize: MIN_PART_BYTES },
        /make 10001 parts, over the limit of 10000; use a partSize of at least/,
      ],
    ])('refuses %s', async (_name, options, message) => {
      await expect(store.presignMultipartUpload('mp/invalid.bin', options)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(message) as string,
      });
    });
  });

  /** PUTs each body to its part URL with plain fetch and collects the ETags the responses carry. */
  async function putParts(
    upload: PresignedMultipartUpload,
    parts: readonly Buffer[],
  ): Promise<CompletedPart[]> {
    const done: CompletedPart[] = [];
    for (const [index, body] of parts.entries()) {
      const part = upload.parts[index]!;
      const res = await fetch(part.url, { method: part.method, headers: part.headers, body });
      expect(res.status, await res.clone().text()).toBe(200);
      const etag = res.headers.get('etag');
      expect(etag).toBeTruthy();
      done.push({ partNumber: part.partNumber, etag: etag ?? '' });
    }
    return done;
  }
});

describe('multipart geometry', () => {
  it('defaults to 64 MiB parts and grows them past 10,000 parts', () => {
    expect(resolveMultipartGeometry(1, undefined)).toEqual({
      sizeBytes: 1,
      partSize: DEFAULT_PART_BYTES,
      partCount: 1,
    });
    expect(resolveMultipartGeometry(DEFAULT_PART_BYTES * 3 + 1, undefined).partCount).toBe(4);
    // 1 TiB in 64 MiB parts would be 16,384 parts; whole MiB are added until it fits.
    const tib = resolveMultipartGeometry(1024 ** 4, undefined);
    expect(tib.partSize).toBe(105 * 1024 ** 2);
    expect(tib.partCount).toBeLessThanOrEqual(MAX_PARTS);
    // A part size the caller names is kept, and refused when it needs too many parts.
    expect(resolveMultipartGeometry(1024 ** 4, 1024 ** 3).partSize).toBe(1024 ** 3);
    expect(() => resolveMultipartGeometry(1024 ** 4, DEFAULT_PART_BYTES)).toThrow(/16384 parts/);
  });
});

/** True when the server answers the command for an unknown upload with NoSuchUpload. */
async function answersNoSuchUpload(
  store: S3ObjectStore,
  command: ListPartsCommand | AbortMultipartUploadCommand,
): Promise<boolean> {
  try {
    await store.client.send(command);
    return true;
  } catch (err) {
    return (err as { name?: string }).name === 'NoSuchUpload';
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
