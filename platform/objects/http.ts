import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { FilesystemObjectStore } from './filesystem.ts';
import { attachmentDisposition, MAX_PARTS, validateObjectKey } from './keys.ts';
import { OBJECTS_PATH, verifyGrant, type ObjectUrlGrant } from './signing.ts';
import {
  InvalidObjectKeyError,
  MultipartUploadError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  type ObjectStore,
} from './types.ts';

/** Serves a request if it is for a signed object URL; resolves true when it handled it. */
export type ObjectHttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

// How long an over-limit upload may keep sending after its 413 before the socket is cut.
const DRAIN_GRACE_MS = 5_000;

/**
 * Serves the filesystem store's signed URLs (`<publicUrl>/objects/<key>?op=…&exp=…&sig=…`):
 * GET/HEAD stream the object, PUT streams the body into the store within the signed limits, and
 * PUT on a `put-part` URL (`&upload=…&part=…`) stores one part of a multipart upload, which must be
 * exactly the signed size, and answers with its `ETag`.
 * Errors are JSON `{ error: { code, message } }`. Requests outside `/objects/` resolve false so
 * the gateway can route them elsewhere.
 */
export function createObjectHttpHandler(
  store: ObjectStore,
  config: Pick<Config, 'secret' | 'publicUrl'>,
  logger: Logger,
): ObjectHttpHandler {
  // A PUBLIC_URL with a path (https://host/api) may or may not be stripped by the proxy in front.
  const basePath = new URL(config.publicUrl).pathname.replace(/\/$/, '');
  const prefixes = [...new Set([`${basePath}${OBJECTS_PATH}`, OBJECTS_PATH])];
  const log = logger.child({ component: 'object-urls' });

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const prefix = prefixes.find((p) => url.pathname.startsWith(p));
    if (prefix === undefined) return false;
    try {
      await serve(store, config.secret, log, req, res, url, url.pathname.slice(prefix.length));
    } catch (err) {
      log.error({ err, path: url.pathname }, 'object request failed');
      if (!res.headersSent) sendError(res, 500, 'INTERNAL_SERVER_ERROR', 'object request failed');
      else res.destroy();
    }
    return true;
  };
}

async function serve(
  store: ObjectStore,
  secret: string,
  log: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  rawKey: string,
): Promise<void> {
  // The signature is the capability and no cookies are involved, so any origin may use it.
  res.setHeader('access-control-allow-origin', '*');
  res.setHeader('access-control-expose-headers', 'content-length, content-disposition, etag');
  const method = req.method ?? 'GET';
  if (method === 'OPTIONS') {
    res.writeHead(204, {
      'access-control-allow-methods': 'GET, HEAD, PUT',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '600',
    });
    res.end();
    return;
  }

  const q = url.searchParams;
  const op = q.get('op');
  if (op !== 'get' && op !== 'put' && op !== 'put-part') {
    return forbidden(res, 'signed URL signature invalid');
  }
  const allowed = op === 'get' ? ['GET', 'HEAD'] : ['PUT'];
  if (!allowed.includes(method)) {
    return sendError(res, 405, 'METHOD_NOT_ALLOWED', `this URL accepts ${allowed.join(', ')}`, {
      allow: allowed.join(', '),
    });
  }

  const grant = parseGrant(op, rawKey, q);
  const sig = q.get('sig');
  if (grant === null || sig === null || !verifyGrant(secret, grant, sig)) {
    return forbidden(res, 'signed URL signature invalid');
  }
  if (Date.now() > grant.exp * 1000) return forbidden(res, 'signed URL expired');
  try {
    validateObjectKey(grant.key);
  } catch (err) {
    if (err instanceof InvalidObjectKeyError)
      return sendError(res, 400, 'BAD_REQUEST', err.message);
    throw err;
  }

  if (op === 'get') return download(store, req, res, grant);
  if (op === 'put-part') return uploadPart(store, log, req, res, grant);
  return upload(store, log, req, res, grant);
}

async function download(
  store: ObjectStore,
  req: IncomingMessage,
  res: ServerResponse,
  grant: ObjectUrlGrant,
): Promise<void> {
  const head = await store.head(grant.key);
  if (head === null) return sendError(res, 404, 'NOT_FOUND', 'object not found');
  const headers: Record<string, string> = {
    'content-type': head.contentType,
    'content-length': String(head.sizeBytes),
    'cache-control': `private, max-age=${Math.max(0, grant.exp - Math.floor(Date.now() / 1000))}`,
    // Uploaded bytes are served from the gateway's origin: never let them run as a page there.
    'content-security-policy': "default-src 'none'; sandbox",
    'x-content-type-options': 'nosniff',
  };
  if (grant.filename !== undefined)
    headers['content-disposition'] = attachmentDisposition(grant.filename);
  if (req.method === 'HEAD') {
    res.writeHead(200, headers);
    res.end();
    return;
  }
  let body;
  try {
    body = await store.get(grant.key);
  } catch (err) {
    // Deleted between head and get.
    if (err instanceof ObjectNotFoundError)
      return sendError(res, 404, 'NOT_FOUND', 'object not found');
    throw err;
  }
  res.writeHead(200, headers);
  await pipeline(body, res);
}

async function upload(
  store: ObjectStore,
  log: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  grant: ObjectUrlGrant,
): Promise<void> {
  const maxBytes = grant.maxBytes ?? 0;
  const declared = req.headers['content-type'];
  if (grant.contentType !== undefined && !sameContentType(declared, grant.contentType)) {
    return sendError(
      res,
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `content-type must be ${grant.contentType}`,
    );
  }
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > maxBytes) return tooLarge(req, res, maxBytes);

  const body = requestBody(req);
  try {
    const result = await store.put(grant.key, body, {
      contentType: grant.contentType ?? declared ?? undefined,
      maxBytes,
    });
    log.debug({ key: result.key, sizeBytes: result.sizeBytes }, 'object uploaded');
    res.writeHead(200, { 'content-type': 'application/json', etag: `"${result.sha256}"` });
    res.end(JSON.stringify(result));
  } catch (err) {
    req.unpipe(body);
    if (err instanceof ObjectTooLargeError) return tooLarge(req, res, maxBytes);
    if (!req.complete) {
      // The client went away; there is nobody to answer.
      res.destroy();
      return;
    }
    throw err;
  }
}

async function uploadPart(
  store: ObjectStore,
  log: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  grant: ObjectUrlGrant,
): Promise<void> {
  // Only the filesystem store signs part URLs for this handler; S3's go to S3.
  if (!(store instanceof FilesystemObjectStore)) {
    return sendError(res, 404, 'NOT_FOUND', 'multipart uploads are not served here');
  }
  const maxBytes = grant.maxBytes ?? 0;
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > maxBytes) return tooLarge(req, res, maxBytes);

  const body = requestBody(req);
  try {
    const part = await store.putPart(grant.key, grant.uploadId ?? '', grant.partNumber ?? 0, body);
    log.debug({ key: grant.key, uploadId: grant.uploadId, part: part.partNumber }, 'part uploaded');
    res.writeHead(200, { 'content-type': 'application/json', etag: `"${part.etag}"` });
    res.end(JSON.stringify(part));
  } catch (err) {
    req.unpipe(body);
    if (err instanceof ObjectTooLargeError) return tooLarge(req, res, maxBytes);
    // Both may come before the body was read (the upload is gone, the part number is past its
    // end): answer, then drain what the client is still sending.
    if (err instanceof MultipartUploadNotFoundError) {
      return refuseUpload(
        req,
        res,
        404,
        'NOT_FOUND',
        'multipart upload not found (completed or aborted)',
      );
    }
    if (err instanceof MultipartUploadError) {
      return refuseUpload(req, res, 400, 'BAD_REQUEST', err.message);
    }
    if (!req.complete) {
      // The client went away; there is nobody to answer.
      res.destroy();
      return;
    }
    throw err;
  }
}

/**
 * The request body as a stream the store may consume. The store destroys its source on failure; a
 * PassThrough in between keeps the request (and its socket) alive long enough to answer 413.
 */
function requestBody(req: IncomingMessage): PassThrough {
  const body = new PassThrough();
  req.on('error', (err) => body.destroy(err));
  req.on('close', () => {
    if (!req.complete) body.destroy(new Error('upload aborted by client'));
  });
  req.pipe(body);
  return body;
}

function parseGrant(
  op: ObjectUrlGrant['op'],
  rawKey: string,
  q: URLSearchParams,
): ObjectUrlGrant | null {
  let key: string;
  try {
    key = rawKey.split('/').map(decodeURIComponent).join('/');
  } catch {
    return null;
  }
  const exp = parseUint(q.get('exp'));
  if (exp === undefined) return null;
  const grant: ObjectUrlGrant = { op, key, exp };
  if (op === 'put' || op === 'put-part') {
    const max = parseUint(q.get('max'));
    if (max === undefined) return null;
    grant.maxBytes = max;
  }
  if (op === 'put') {
    const ct = q.get('ct');
    if (ct !== null) grant.contentType = ct;
  } else if (op === 'put-part') {
    const uploadId = q.get('upload');
    const part = parseUint(q.get('part'));
    if (uploadId === null || part === undefined || part < 1 || part > MAX_PARTS) return null;
    grant.uploadId = uploadId;
    grant.partNumber = part;
  } else {
    const fn = q.get('fn');
    if (fn !== null) grant.filename = fn;
  }
  return grant;
}

function parseUint(value: string | null): number | undefined {
  if (value === null || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

function sameContentType(declared: string | undefined, signed: string): boolean {
  return declared !== undefined && declared.trim().toLowerCase() === signed.trim().toLowerCase();
}

function tooLarge(req: IncomingMessage, res: ServerResponse, maxBytes: number): void {
  refuseUpload(req, res, 413, 'PAYLOAD_TOO_LARGE', `upload exceeds the limit of ${maxBytes} bytes`);
}

/** Answers an upload with an error before or while its body arrives. */
function refuseUpload(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
): void {
  sendError(res, status, code, message, { connection: 'close' });
  // Read and discard what the client is still sending so it gets to see the answer, not forever.
  if (!req.complete) {
    req.resume();
    const timer = setTimeout(() => req.socket.destroy(), DRAIN_GRACE_MS);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
  }
}

function forbidden(res: ServerResponse, message: string): void {
  sendError(res, 403, 'FORBIDDEN', message);
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}
