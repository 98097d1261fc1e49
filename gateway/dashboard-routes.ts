import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, type RequestScope, type Route } from '../platform/http/server.ts';

/** Where `vite build gateway/dashboard` (run by `npm install`) writes the page. */
export const dashboardBuildDir = resolve(import.meta.dirname, '../generated/dashboard');

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/**
 * The page loads only its own bundle and talks only to this origin (HTTP and WebSocket): no CDN,
 * no inline script, nothing framed. `'self'` covers ws: and wss: to the same host in current
 * browsers (CSP Level 3).
 */
const securityHeaders = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

async function readBuilt(dir: string, relative: string): Promise<Buffer | null> {
  const file = resolve(dir, relative);
  if (file !== dir && !file.startsWith(dir + sep)) return null;
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return null;
    throw error;
  }
}

/**
 * Serves the built dashboard at /dashboard/: index.html revalidated on every load, the hashed
 * assets cached for a year. `/dashboard` redirects to `/dashboard/` so relative asset URLs
 * resolve. A checkout that has not been built answers 503 with the command that builds it.
 */
export function dashboardRoutes(dir: string = dashboardBuildDir): Route[] {
  const serve = async (req: IncomingMessage, res: ServerResponse, scope: RequestScope) => {
    const path = scope.url.pathname;
    if (path === '/dashboard') {
      res.writeHead(308, { location: `/dashboard/${scope.url.search}` });
      res.end();
      return;
    }
    let relative: string;
    try {
      relative = decodeURIComponent(path.slice('/dashboard/'.length)) || 'index.html';
    } catch {
      throw new HttpError(400, 'BAD_REQUEST', 'Malformed path');
    }
    if (relative.includes('\0')) throw new HttpError(400, 'BAD_REQUEST', 'Malformed path');
    const body = await readBuilt(dir, relative);
    if (!body) {
      if (relative === 'index.html') {
        throw new HttpError(
          503,
          'DASHBOARD_NOT_BUILT',
          'The dashboard is not built on this server: run `npm run build:dashboard` (npm install does it).',
        );
      }
      throw new HttpError(404, 'NOT_FOUND', `No dashboard file ${path}`);
    }
    res.writeHead(200, {
      ...securityHeaders,
      'content-type': contentTypes[extname(relative)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': relative.startsWith('assets/')
        ? 'public, max-age=31536000, immutable'
        : 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  return [{ path: '/dashboard/*', name: '/dashboard', methods: ['GET', 'HEAD'], handler: serve }];
}
