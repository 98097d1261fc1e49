import type { TypedDocumentString } from '../../../../generated/graphql/dashboard/operations.ts';

/** An error the gateway answered (its `extensions.code`) or a transport failure. */
export class ApiError extends Error {
  constructor(
    message: string,
    /** The GraphQL error code (`UNAUTHENTICATED`, `RATE_LIMITED`, …) or `NETWORK_ERROR`. */
    readonly code: string,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** One reading of the caller's rate-limit bucket, from a response's `RateLimit-*` headers. */
export interface RateLimitSample {
  at: number;
  limit: number;
  remaining: number;
  resetSeconds: number;
}

const rateLimitListeners = new Set<(sample: RateLimitSample) => void>();

/** Calls `listener` with the bucket reading of every response that carries one. */
export function onRateLimitSample(listener: (sample: RateLimitSample) => void): () => void {
  rateLimitListeners.add(listener);
  return () => rateLimitListeners.delete(listener);
}

function sampleRateLimit(headers: Headers): void {
  const limit = Number(headers.get('ratelimit-limit'));
  const remaining = Number(headers.get('ratelimit-remaining'));
  if (!headers.has('ratelimit-limit') || !Number.isFinite(limit) || !Number.isFinite(remaining)) {
    return;
  }
  const sample = {
    at: Date.now(),
    limit,
    remaining,
    resetSeconds: Number(headers.get('ratelimit-reset') ?? 0),
  };
  for (const listener of rateLimitListeners) listener(sample);
}

interface GraphQLBody<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; retryAfterSeconds?: number } }[];
}

/** The gateway's GraphQL endpoint: the page is served by the gateway, so the same origin. */
export const graphqlUrl = new URL('/graphql', window.location.origin).toString();

/**
 * Sends one typed operation over HTTP. The first GraphQL error becomes an ApiError with its code,
 * so callers can tell an expired session (UNAUTHENTICATED) from a rate limit or an outage.
 */
export async function execute<TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
  accessToken: string | null,
): Promise<TResult> {
  let response: Response;
  try {
    response = await fetch(graphqlUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
  } catch {
    throw new ApiError('The gateway cannot be reached.', 'NETWORK_ERROR');
  }
  sampleRateLimit(response.headers);
  let body: GraphQLBody<TResult>;
  try {
    body = (await response.json()) as GraphQLBody<TResult>;
  } catch {
    throw new ApiError(
      `The gateway answered HTTP ${response.status} without a result.`,
      'BAD_RESPONSE',
    );
  }
  const [first] = body.errors ?? [];
  if (first) {
    throw new ApiError(
      first.message,
      first.extensions?.code ?? 'INTERNAL_SERVER_ERROR',
      first.extensions?.retryAfterSeconds ?? null,
    );
  }
  if (!body.data) throw new ApiError('The gateway answered without data.', 'BAD_RESPONSE');
  return body.data;
}
