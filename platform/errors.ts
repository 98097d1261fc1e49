import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/** The error codes of API.md; nothing else leaves the gateway. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'QUOTA_EXCEEDED'
  | 'CONFLICT'
  | 'INTERNAL_SERVER_ERROR';

const httpStatus: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  RATE_LIMITED: 429,
};

/**
 * An outcome the caller caused (wrong password, unknown id, duplicate email). Domain code throws
 * these; the GraphQL edge turns them into errors with `extensions.code`. Anything else thrown is a
 * bug and is masked as INTERNAL_SERVER_ERROR.
 */
export class DomainError extends Error {
  constructor(
    readonly code: Exclude<ErrorCode, 'INTERNAL_SERVER_ERROR'>,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const unauthenticated = (message: string) => new DomainError('UNAUTHENTICATED', message);
export const forbidden = (message: string) => new DomainError('FORBIDDEN', message);
export const badInput = (message: string, details: Record<string, unknown> = {}) =>
  new DomainError('BAD_USER_INPUT', message, details);
export const notFound = (what: string) => new DomainError('NOT_FOUND', `${what} not found`);
/** `reason` names which conflict (e.g. NVIDIA's `IN_USE`) for clients that branch on it. */
export const conflict = (message: string, reason?: string) =>
  new DomainError('CONFLICT', message, reason ? { reason } : {});
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  new DomainError('RATE_LIMITED', message, {
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
  });

/** The GraphQL form of a domain error; HTTP status only where the transport must show it. */
export function toGraphQLError(error: DomainError): GraphQLError {
  const status = httpStatus[error.code];
  return new GraphQLError(error.message, {
    extensions: {
      code: error.code,
      ...error.details,
      ...(status ? { http: { status } } : {}),
    },
  });
}

const publicCodes = new Set<string>([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'CONFLICT',
  // Apollo's own request-level codes are about the caller's document, so they are safe to show.
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'PERSISTED_QUERY_NOT_IN_SAFELIST',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * Apollo `formatError`: public codes pass with their message; everything else becomes
 * INTERNAL_SERVER_ERROR with the request id so an operator can find the cause in the logs.
 */
export function maskError(
  formatted: GraphQLFormattedError,
  requestId: string | undefined,
): GraphQLFormattedError {
  const code =
    typeof formatted.extensions?.code === 'string' ? formatted.extensions.code : undefined;
  const {
    stacktrace: _stacktrace,
    exception: _exception,
    serviceName: _service,
    ...extensions
  } = formatted.extensions ?? {};
  if (code && publicCodes.has(code)) {
    return {
      ...formatted,
      extensions: { ...extensions, code, ...(requestId ? { requestId } : {}) },
    };
  }
  return {
    message: 'Internal server error',
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: 'INTERNAL_SERVER_ERROR', ...(requestId ? { requestId } : {}) },
  };
}
