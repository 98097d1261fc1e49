import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardRoutes } from '../../gateway/dashboard-routes.ts';
import { closeServer, createHttpServer, listen } from '../../platform/http/server.ts';
import { createLogger } from '../../platform/logger.ts';
import { createMetrics } from '../../platform/metrics.ts';

/**
 * How the gateway serves the built page: over a real HTTP server, on a build folder made here so
 * every case (hashed asset, missing file, hostile path, unbuilt checkout) is exact.
 */

const servers: Server[] = [];

async function serve(dir: string): Promise<string> {
  const server = createHttpServer({
    logger: createLogger({ LOG_LEVEL: 'silent' }),
    metrics: createMetrics('dashboard-test', { defaultMetrics: false }),
    routes: dashboardRoutes(dir),
  });
  servers.push(server);
  return (await listen(server, '127.0.0.1', 0)).url;
}

let built: string;
let unbuilt: string;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'lotabots-dashboard-'));
  const dir = join(root, 'dist');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>LotaBots</title>');
  writeFileSync(join(dir, 'assets', 'index-Abc123.js'), 'console.log("dashboard")');
  writeFileSync(join(root, 'secret.txt'), 'outside the build folder');
  built = await serve(dir);
  unbuilt = await serve(join(root, 'not-built'));
});

afterAll(async () => {
  for (const server of servers) await closeServer(server);
});

describe('dashboard static files', () => {
  it('redirects /dashboard to /dashboard/ so relative asset URLs resolve, keeping the query', async () => {
    const response = await fetch(`${built}/dashboard?x=1`, { redirect: 'manual' });
    expect(response.status).toBe(308);
    expect(response.headers.get('location')).toBe('/dashboard/?x=1');
  });

  it('serves the page with a strict CSP and revalidation, and assets as immutable', async () => {
    const page = await fetch(`${built}/dashboard/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(await page.text()).toContain('<title>LotaBots</title>');

    const asset = await fetch(`${built}/dashboard/assets/index-Abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const head = await fetch(`${built}/dashboard/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${built}/dashboard/`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('answers 404 for a missing file and never reads outside the build folder', async () => {
    expect((await fetch(`${built}/dashboard/assets/missing.js`)).status).toBe(404);
    for (const path of [
      // Encoded slashes survive URL normalisation, so these reach the handler's own check.
      '/dashboard/..%2fsecret.txt',
      '/dashboard/assets/..%2f..%2fsecret.txt',
    ]) {
      const response = await fetch(`${built}${path}`);
      expect(response.status, path).toBe(404);
      const body = await response.text();
      expect(body, path).toContain('No dashboard file');
      expect(body, path).not.toContain('outside the build folder');
    }
    expect((await fetch(`${built}/dashboard/%E0%A4%A`)).status).toBe(400);
  });

  it('tells an unbuilt checkout how to build the page', async () => {
    const response = await fetch(`${unbuilt}/dashboard/`);
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('DASHBOARD_NOT_BUILT');
    expect(body.error.message).toContain('npm run build:dashboard');
  });
});
