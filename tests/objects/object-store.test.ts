import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import {
  createObjectHttpHandler,
  createObjectStore,
  InvalidObjectKeyError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  type ObjectHttpHandler,
  type ObjectStore,
} from '../../platform/objects/index.ts';
import { backends, testConfig } from '../support/config.ts';

// The same contract on whichever store the environment selects: files (default) or S3 (CI sets
// S3_BUCKET and friends, e.g. against `node scripts/s3-server.mjs`).
describe(`object store (${backends.objects})`, () => {
  let server: Server;
  let config: Config;
  let store: ObjectStore;
  /** Signs URLs with a clock an hour behind, so they are already expired. */
  let pastStore: ObjectStore;

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
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
