import { randomBytes } from 'node:crypto';

/** A W3C trace context (https://www.w3.org/TR/trace-context/): the caller's trace, or a new one. */
export interface TraceContext {
  traceId: string;
  /** The span of this hop; children use it as their parent. */
  spanId: string;
  flags: string;
}

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Continues the trace in a `traceparent` header, or starts one when it is absent or invalid. */
export function traceFromHeader(header: string | string[] | undefined): TraceContext {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value ? traceparentPattern.exec(value.trim().toLowerCase()) : null;
  const traceId = match?.[1];
  // All-zero ids are invalid by the spec and must be treated as absent.
  if (match && traceId && !/^0+$/.test(traceId) && !/^0+$/.test(match[2] ?? '')) {
    return { traceId, spanId: newSpanId(), flags: match[3] ?? '01' };
  }
  return { traceId: randomBytes(16).toString('hex'), spanId: newSpanId(), flags: '01' };
}

// Span ids are drawn from a pool refilled 512 at a time: one randomBytes call per subgraph fetch
// showed up in the gateway's CPU profile.
let pool = Buffer.alloc(0);
let offset = 0;

export function newSpanId(): string {
  if (offset + 8 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + 8);
  offset += 8;
  return id;
}

/** The `traceparent` for a downstream call made from `trace`: same trace, a fresh span id. */
export function childTraceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${newSpanId()}-${trace.flags}`;
}
