import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { traceFromHeader, type TraceContext } from './trace-context.ts';

/** What every route handler receives besides the raw request and response. */
export interface RequestScope {
  requestId: string;
  url: URL;
  /** W3C trace context continued from the caller's `traceparent`, or a new trace. */
  trace: TraceContext;
  logger: Logger;
}

export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  scope: RequestScope,
) => Promise<void> | void;

export interface Route {
  /** Methods this route answers; others get 405. Omit for any method. */
  methods?: string[];
  /** Exact path, or a prefix when it ends with `/*`. */
  path: string;
  /** Label for metrics; defaults to `path`. */
  name?: string;
  handler: RouteHandler;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A small HTTP server shared by the gateway and every subgraph: request ids, access logs,
 * metrics and a JSON error for anything a handler throws. No framework: the routes are few and
 * Apollo Server only needs `executeHTTPGraphQLRequest`.
 */
export interface CorsOptions {
  /** Origins allowed to call from a browser (`https://app.example.com`); `*` allows any. */
  allowedOrigins: string[];
}

const corsAllowHeaders =
  'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id, traceparent';
const corsExposeHeaders =
  'x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after';

/**
 * Adds CORS headers for allowed origins and answers preflights. Origins not on the list get no
 * CORS headers, so browsers refuse to hand them the response; tokens travel in headers, never
 * cookies, so credentials are not allowed.
 */
function applyCors(
  req: IncomingMessage,
  res: ServerResponse,
  cors: CorsOptions | undefined,
): 'preflight-done' | 'continue' {
  const origin = req.headers.origin;
  const any = cors?.allowedOrigins.includes('*') ?? false;
  const allowed = !!origin && !!cors && (any || cors.allowedOrigins.includes(origin));
  if (allowed) {
    res.setHeader('access-control-allow-origin', any ? '*' : origin);
    res.setHeader('vary', 'Origin');
    res.setHeader('access-control-expose-headers', corsExposeHeaders);
  }
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
    if (allowed) {
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, PUT, OPTIONS',
        'access-control-allow-headers': corsAllowHeaders,
        'access-control-max-age': '600',
      });
    } else res.writeHead(403, { 'content-type': 'text/plain' });
    res.end();
    return 'preflight-done';
  }
  return 'continue';
}

export function createHttpServer(options: {
  logger: Logger;
  metrics: Metrics;
  routes: Route[];
  cors?: CorsOptions;
}): Server {
  const { logger, metrics, routes } = options;
  return createServer((req, res) => {
    const started = process.hrtime.bigint();
    const incomingId = req.headers['x-request-id'];
    const requestId =
      typeof incomingId === 'string' && /^[\w.:-]{1,128}$/.test(incomingId)
        ? incomingId
        : randomUUID();
    res.setHeader('x-request-id', requestId);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes.find((r) =>
      r.path.endsWith('/*')
        ? url.pathname.startsWith(r.path.slice(0, -1)) || url.pathname === r.path.slice(0, -2)
        : url.pathname === r.path,
    );
    const routeName = route ? (route.name ?? route.path) : 'unmatched';
    const trace = traceFromHeader(req.headers.traceparent);
    const scope: RequestScope = {
      requestId,
      url,
      trace,
      logger: logger.child({ requestId, traceId: trace.traceId }),
    };

    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const method = req.method ?? 'GET';
      metrics.httpRequests.inc({ method, route: routeName, status: String(res.statusCode) });
      metrics.httpDuration.observe({ method, route: routeName }, seconds);
      scope.logger.debug(
        { method, path: url.pathname, status: res.statusCode, ms: Math.round(seconds * 1000) },
        'request',
      );
    });

    const run = async () => {
      if (applyCors(req, res, options.cors) === 'preflight-done') return;
      if (!route) throw new HttpError(404, 'NOT_FOUND', `No route for ${url.pathname}`);
      if (route.methods && !route.methods.includes(req.method ?? 'GET')) {
        res.setHeader('allow', route.methods.join(', '));
        throw new HttpError(
          405,
          'METHOD_NOT_ALLOWED',
          `${req.method} is not allowed on ${url.pathname}`,
        );
      }
      await route.handler(req, res, scope);
    };
    run().catch((error: unknown) => {
      if (error instanceof HttpError) {
        if (!res.headersSent)
          sendJson(res, error.status, { error: { code: error.code, message: error.message } });
        else res.end();
        return;
      }
      scope.logger.error({ err: error }, 'unhandled error in HTTP handler');
      if (!res.headersSent) {
        sendJson(res, 500, {
          error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error', requestId },
        });
      } else res.destroy();
    });
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Reads the whole body, refusing more than `maxBytes` without buffering the excess. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `Request body exceeds ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      req.resume();
      throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `Request body exceeds ${maxBytes} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Listens and resolves with the bound port (useful with port 0). */
export async function listen(
  server: Server,
  host: string,
  port: number,
): Promise<{ port: number; url: string }> {
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost =
    host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return { port: address.port, url: `http://${shownHost}:${address.port}` };
}

/** Stops accepting connections and closes idle keep-alive sockets so shutdown does not hang. */
export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolvePromise) => {
    server.close(() => resolvePromise());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 5_000).unref();
  });
}

/** The client address, honouring X-Forwarded-For only when the process sits behind a trusted proxy. */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? 'unknown';
}
