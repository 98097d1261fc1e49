import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import {
  createObjectHttpHandler,
  FilesystemObjectStore,
  MultipartUploadNotFoundError,
  type ObjectHttpHandler,
} from '../../platform/objects/index.ts';
import { MIN_PART_BYTES } from '../../platform/objects/keys.ts';
import { buildSignedUrl, signGrant } from '../../platform/objects/signing.ts';
import { testConfig } from '../support/config.ts';

// The HTTP side of the filesystem store's signed URLs, which the gateway mounts. It exists only
// for the filesystem store (S3 serves its own URLs), so it is tested on that store whatever the
// environment selects. PUBLIC_URL carries a path to check that prefixes are honoured.
describe('signed object URLs over HTTP (filesystem store)', () => {
  let server: Server;
  let base: string;
  let store: FilesystemObjectStore;
  let pastStore: FilesystemObjectStore;
  let secret: string;

  beforeAll(async () => {
    const routes: { objects?: ObjectHttpHandler } = {};
    server = createServer((req, res) => {
      void (async () => {
        if (!(await routes.objects?.(req, res))) res.writeHead(418).end('not mine');
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const config = testConfig({ PUBLIC_URL: `${base}/api` });
    secret = config.secret;
    const logger = createLogger(config);
    store = new FilesystemObjectStore(config, logger);
    pastStore = new FilesystemObjectStore(config, logger, { now: () => Date.now() - 3600_000 });
    routes.objects = createObjectHttpHandler(store, config, logger);
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('leaves other paths to the caller', async () => {
    const res = await fetch(`${base}/graphql`);
    expect(res.status).toBe(418);
  });

  it('signs URLs under PUBLIC_URL and also serves them with the prefix stripped by a proxy', async () => {
    await store.put('p/x.txt', Buffer.from('x'), { contentType: 'text/plain' });
    const { url } = await store.presignDownload('p/x.txt');
    expect(url.startsWith(`${base}/api/objects/p/x.txt?`)).toBe(true);
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(url.replace('/api/objects/', '/objects/'))).status).toBe(200);
  });

  it('streams an upload into the store and reports its hash', async () => {
    const upload = await store.presignUpload('up/report.json', {
      contentType: 'application/json',
      maxBytes: 100,
    });
    const res = await fetch(upload.url, {
      method: 'PUT',
      headers: upload.headers,
      body: '{"ok":true}',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { key: string; sizeBytes: number; sha256: string };
    expect(body).toMatchObject({ key: 'up/report.json', sizeBytes: 11 });
    expect(res.headers.get('etag')).toBe(`"${body.sha256}"`);
    expect(await store.head('up/report.json')).toEqual({
      sizeBytes: 11,
      contentType: 'application/json',
    });
  });

  it('serves downloads with length, type, disposition and hardening headers; HEAD has no body', async () => {
    await store.put('down/page.html', Buffer.from('<script>alert(1)</script>'), {
      contentType: 'text/html',
    });
    const { url } = await store.presignDownload('down/page.html', { filename: 'räport "1".html' });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(res.headers.get('content-length')).toBe('25');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="r_port _1_.html"; filename*=UTF-8''r%C3%A4port%20%221%22.html`,
    );
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain('sandbox');
    expect(await res.text()).toBe('<script>alert(1)</script>');

    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('25');
    expect(await head.text()).toBe('');
  });

  it('answers 404 for a validly signed URL to a missing object', async () => {
    const { url } = await store.presignDownload('nothing/here');
    const res = await fetch(url);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'object not found' } });
  });

  it('answers 405 when the method does not match the signed operation', async () => {
    const download = await store.presignDownload('p/x.txt');
    const put = await fetch(download.url, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD');
    const upload = await store.presignUpload('p/y.txt');
    const get = await fetch(upload.url);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('PUT');
    expect(((await get.json()) as { error: { code: string } }).error.code).toBe(
      'METHOD_NOT_ALLOWED',
    );
  });

  it('answers 403 for expired URLs with a JSON error', async () => {
    const { url } = await pastStore.presignDownload('p/x.txt', { expiresInSeconds: 30 });
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({
      error: { code: 'FORBIDDEN', message: 'signed URL expired' },
    });
  });

  it.each([
    ['signature', (u: URL) => u.searchParams.set('sig', flip(u.searchParams.get('sig') ?? ''))],
    ['missing signature', (u: URL) => u.searchParams.delete('sig')],
    [
      'expiry',
      (u: URL) => u.searchParams.set('exp', String(Number(u.searchParams.get('exp')) + 3600)),
    ],
    ['key', (u: URL) => (u.pathname = u.pathname.replace('x.txt', 'z.txt'))],
    ['operation', (u: URL) => u.searchParams.set('op', 'put')],
    ['file name', (u: URL) => u.searchParams.set('fn', 'evil.exe')],
  ])('answers 403 when the %s was tampered with', async (_name, tamper) => {
    await store.put('p/z.txt', Buffer.from('other'));
    const signed = new URL((await store.presignDownload('p/x.txt')).url);
    tamper(signed);
    const res = await fetch(signed, {
      method: signed.searchParams.get('op') === 'put' ? 'PUT' : 'GET',
      body: null,
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: { code: 'FORBIDDEN', message: 'signed URL signature invalid' },
    });
  });

  it('answers 403 when an upload URL widens its limit or content type', async () => {
    const upload = new URL(
      (await store.presignUpload('up/t.bin', { maxBytes: 4, contentType: 'text/plain' })).url,
    );
    upload.searchParams.set('max', '4000');
    expect(
      (
        await fetch(upload, {
          method: 'PUT',
          headers: { 'content-type': 'text/plain' },
          body: 'abc',
        })
      ).status,
    ).toBe(403);
    upload.searchParams.set('max', '4');
    upload.searchParams.set('ct', 'text/html');
    expect(
      (
        await fetch(upload, {
          method: 'PUT',
          headers: { 'content-type': 'text/html' },
          body: 'abc',
        })
      ).status,
    ).toBe(403);
  });

  it('answers 413 for a declared length over the limit and for a streamed body that grows past it', async () => {
    const upload = await store.presignUpload('up/big.bin', { maxBytes: 1000 });
    const declared = await fetch(upload.url, { method: 'PUT', body: Buffer.alloc(1001) });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { code: string } }).error.code).toBe(
      'PAYLOAD_TOO_LARGE',
    );

    // No content-length: the limit is found while streaming, after part of the body was written.
    const chunks = [Buffer.alloc(600), Buffer.alloc(600)];
    const streamed = await fetch(upload.url, {
      method: 'PUT',
      body: new ReadableStream({
        pull(controller) {
          const next = chunks.shift();
          if (next) controller.enqueue(next);
          else controller.close();
        },
      }),
      duplex: 'half',
    });
    expect(streamed.status).toBe(413);
    expect(await store.head('up/big.bin')).toBeNull();
  });

  it('answers 415 when the upload does not declare the signed content type', async () => {
    const upload = await store.presignUpload('up/typed.json', { contentType: 'application/json' });
    const res = await fetch(upload.url, {
      method: 'PUT',
      headers: { 'content-type': 'text/html' },
      body: '{}',
    });
    expect(res.status).toBe(415);
    expect(await store.head('up/typed.json')).toBeNull();
  });

  it('answers CORS preflights so browsers can upload directly', async () => {
    const upload = await store.presignUpload('up/cors.bin');
    const res = await fetch(upload.url, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toContain('PUT');
  });

  describe('multipart part URLs', () => {
    // Two full parts of the smallest size S3 allows and a short last one.
    const sizeBytes = 2 * MIN_PART_BYTES + 1024;
    const start = (key: string, from = store) =>
      from.presignMultipartUpload(key, { sizeBytes, partSize: MIN_PART_BYTES });

    it('keeps the signatures of get and put URLs already handed out', () => {
      // The grant format gained fields for parts; get/put must still sign exactly as before.
      const old = (fields: unknown[]) =>
        createHmac('sha256', secret)
          .update(JSON.stringify(['lotabots:object-url:v1', ...fields]))
          .digest('base64url');
      expect(signGrant(secret, { op: 'get', key: 'a/b', exp: 100, filename: 'f.txt' })).toBe(
        old(['get', 'a/b', 100, null, null, 'f.txt']),
      );
      expect(
        signGrant(secret, { op: 'put', key: 'a/b', exp: 100, maxBytes: 5, contentType: 't/p' }),
      ).toBe(old(['put', 'a/b', 100, 5, 't/p', null]));
      // A part grant covers its upload id and part number.
      const part = { op: 'put-part', key: 'a/b', exp: 100, maxBytes: 5, uploadId: 'u' } as const;
      expect(signGrant(secret, { ...part, partNumber: 1 })).not.toBe(
        signGrant(secret, { ...part, partNumber: 2 }),
      );
    });

    it('stores a part of exactly the signed size and answers with its MD5 as ETag', async () => {
      const upload = await start('mp/etag.bin');
      const last = upload.parts[2]!;
      expect(new URL(last.url).searchParams.get('op')).toBe('put-part');
      expect(new URL(last.url).searchParams.get('max')).toBe('1024');
      expect(new URL(upload.parts[0]!.url).searchParams.get('max')).toBe(String(MIN_PART_BYTES));
      const body = randomBytes(1024);
      const res = await fetch(last.url, { method: 'PUT', body });
      expect(res.status).toBe(200);
      const md5 = createHash('md5').update(body).digest('hex');
      expect(res.headers.get('etag')).toBe(`"${md5}"`);
      // Browsers may only read the ETag when it is exposed.
      expect(res.headers.get('access-control-expose-headers')).toContain('etag');
      expect(await res.json()).toEqual({ partNumber: 3, sizeBytes: 1024, etag: md5 });
      expect(await readdir(join(store.multipartRoot, upload.uploadId, '3'))).toEqual([md5]);
      const manifest = JSON.parse(
        await readFile(join(store.multipartRoot, upload.uploadId, 'upload.json'), 'utf8'),
      ) as Record<string, unknown>;
      expect(manifest).toMatchObject({
        key: 'mp/etag.bin',
        sizeBytes,
        partSize: MIN_PART_BYTES,
        partCount: 3,
        contentType: 'application/octet-stream',
      });

      // Uploading the part again replaces it: the earlier ETag no longer completes.
      const again = randomBytes(1024);
      const second = await fetch(last.url, { method: 'PUT', body: again });
      const md5Again = createHash('md5').update(again).digest('hex');
      expect(second.headers.get('etag')).toBe(`"${md5Again}"`);
      expect(await readdir(join(store.multipartRoot, upload.uploadId, '3'))).toEqual([md5Again]);
    });

    it('answers 413 for a part larger than signed, declared or streamed, and keeps nothing', async () => {
      const upload = await start('mp/big-part.bin');
      const url = upload.parts[2]!.url;
      const declared = await fetch(url, { method: 'PUT', body: Buffer.alloc(1025) });
      expect(declared.status).toBe(413);
      expect(((await declared.json()) as { error: { code: string } }).error.code).toBe(
        'PAYLOAD_TOO_LARGE',
      );
      const chunks = [Buffer.alloc(600), Buffer.alloc(600)];
      const streamed = await fetch(url, {
        method: 'PUT',
        body: new ReadableStream({
          pull(controller) {
            const next = chunks.shift();
            if (next) controller.enqueue(next);
            else controller.close();
          },
        }),
        duplex: 'half',
      });
      expect(streamed.status).toBe(413);
      expect(await readdir(join(store.multipartRoot, upload.uploadId, '3'))).toEqual([]);
    });

    it('answers 400 for a part shorter than signed', async () => {
      const upload = await start('mp/short-part.bin');
      const res = await fetch(upload.parts[0]!.url, { method: 'PUT', body: Buffer.alloc(1000) });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: {
          code: 'BAD_REQUEST',
          message: `multipart upload ${upload.uploadId}: part 1 is 1000 bytes; it must be exactly ${MIN_PART_BYTES}`,
        },
      });
    });

    it('answers 403 for an expired part URL', async () => {
      const upload = await start('mp/expired.bin', pastStore);
      expect(upload.expiresAt.getTime()).toBeLessThan(Date.now());
      const res = await fetch(upload.parts[2]!.url, { method: 'PUT', body: Buffer.alloc(1024) });
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({
        error: { code: 'FORBIDDEN', message: 'signed URL expired' },
      });
    });

    it.each([
      ['part number', (u: URL) => u.searchParams.set('part', '2')],
      ['upload id', (u: URL) => u.searchParams.set('upload', 'f'.repeat(32))],
      ['size', (u: URL) => u.searchParams.set('max', '2048')],
      ['operation', (u: URL) => u.searchParams.set('op', 'put')],
      ['missing part number', (u: URL) => u.searchParams.delete('part')],
    ])('answers 403 when the %s of a part URL was tampered with', async (_name, tamper) => {
      const upload = await start('mp/tampered.bin');
      const url = new URL(upload.parts[2]!.url);
      tamper(url);
      const res = await fetch(url, { method: 'PUT', body: Buffer.alloc(1024) });
      expect(res.status).toBe(403);
    });

    it('answers 405 for a GET on a part URL and 404 for a part of an aborted upload', async () => {
      const upload = await start('mp/gone.bin');
      const url = upload.parts[2]!.url;
      const get = await fetch(url);
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('PUT');
      await store.abortMultipartUpload('mp/gone.bin', upload.uploadId);
      const put = await fetch(url, { method: 'PUT', body: Buffer.alloc(1024) });
      expect(put.status).toBe(404);
      // Refused before the body is read: a full-size part still gets its answer, not a reset.
      const big = await fetch(upload.parts[0]!.url, {
        method: 'PUT',
        body: Buffer.alloc(MIN_PART_BYTES),
      });
      expect(big.status).toBe(404);
      expect(await big.json()).toEqual({
        error: { code: 'NOT_FOUND', message: 'multipart upload not found (completed or aborted)' },
      });
      expect(existsSync(join(store.multipartRoot, upload.uploadId))).toBe(false);
    });

    it('never lets an upload id or ETag name a path outside the staging area', async () => {
      const upload = await start('mp/paths.bin');
      for (const id of ['../../etc', `${upload.uploadId}/..`, '', upload.uploadId.toUpperCase()]) {
        await expect(
          store.completeMultipartUpload('mp/paths.bin', id, [{ partNumber: 1, etag: 'x' }]),
        ).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
      }
      // An upload id is bound to its key.
      await expect(
        store.completeMultipartUpload('mp/other.bin', upload.uploadId, [
          { partNumber: 1, etag: 'x' },
        ]),
      ).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
      await expect(
        store.completeMultipartUpload('mp/paths.bin', upload.uploadId, [
          { partNumber: 1, etag: '../../upload.json' },
          { partNumber: 2, etag: 'upload.json' },
          { partNumber: 3, etag: '..' },
        ]),
      ).rejects.toThrow(/part 1 was not uploaded/);
      // A key that spells the staging path is an ordinary object, stored elsewhere.
      const key = `.multipart/${upload.uploadId}/upload.json`;
      await store.put(key, Buffer.from('not a manifest'));
      expect((await store.head(key))?.sizeBytes).toBe(14);
      expect(
        JSON.parse(
          await readFile(join(store.multipartRoot, upload.uploadId, 'upload.json'), 'utf8'),
        ),
      ).toMatchObject({ key: 'mp/paths.bin' });
    });

    it('answers 404 for a validly signed part of an upload never started here', async () => {
      // A valid part grant whose upload was never started here: 404, not a crash.
      const url = buildSignedUrl(`${base}/api`, secret, {
        op: 'put-part',
        key: 'mp/nowhere.bin',
        exp: Math.floor(Date.now() / 1000) + 60,
        maxBytes: 3,
        uploadId: 'a'.repeat(32),
        partNumber: 1,
      });
      const res = await fetch(url, { method: 'PUT', body: 'abc' });
      expect(res.status).toBe(404);
    });
  });
});

function flip(sig: string): string {
  const first = sig[0] === 'A' ? 'B' : 'A';
  return first + sig.slice(1);
}
