import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import {
  createObjectHttpHandler,
  FilesystemObjectStore,
  type ObjectHttpHandler,
} from '../../platform/objects/index.ts';
import { testConfig } from '../support/config.ts';

// The HTTP side of the filesystem store's signed URLs, which the gateway mounts. It exists only
// for the filesystem store (S3 serves its own URLs), so it is tested on that store whatever the
// environment selects. PUBLIC_URL carries a path to check that prefixes are honoured.
describe('signed object URLs over HTTP (filesystem store)', () => {
  let server: Server;
  let base: string;
  let store: FilesystemObjectStore;
  let pastStore: FilesystemObjectStore;

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
});

function flip(sig: string): string {
  const first = sig[0] === 'A' ? 'B' : 'A';
  return first + sig.slice(1);
}
