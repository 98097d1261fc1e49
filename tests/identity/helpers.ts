import {
  authPayloadFields,
  type GraphQLResponse,
  type TestSupergraph,
} from '../support/supergraph.ts';

/** The claims of a JWT, decoded without verification (the tests check what the server issued). */
export function decodeJwtPayload(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (payload === undefined) throw new Error(`not a JWT: ${token}`);
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/**
 * POSTs a GraphQL operation to any URL (the gateway or one subgraph directly) with exactly the
 * headers given, so tests can send hostile Authorization headers.
 */
export async function postGraphQL<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status' | 'headers'>;
  return { status: response.status, headers: response.headers, ...body };
}

/** The gateway's /graphql with a raw Authorization header value (or none). */
export function gatewayWithAuthorization<T = Record<string, unknown>>(
  supergraph: TestSupergraph,
  query: string,
  authorization: string | null,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse<T>> {
  return postGraphQL<T>(
    `${supergraph.baseUrl}/graphql`,
    query,
    variables,
    authorization === null ? {} : { authorization },
  );
}

/** The identity subgraph's own /graphql, bypassing the gateway. */
export function identityDirect<T = Record<string, unknown>>(
  supergraph: TestSupergraph,
  query: string,
  variables: Record<string, unknown> = {},
  token: string | null = null,
): Promise<GraphQLResponse<T>> {
  return postGraphQL<T>(
    supergraph.identity.url,
    query,
    variables,
    token === null ? {} : { authorization: `Bearer ${token}` },
  );
}

export const loginMutation = /* GraphQL */ `
  mutation Login($input: LoginInput!) {
    login(input: $input) {
      ...AuthPayloadFields
    }
  }
  ${authPayloadFields}
`;

export const refreshMutation = /* GraphQL */ `
  mutation Refresh($input: RefreshTokenInput!) {
    refreshToken(input: $input) {
      ...AuthPayloadFields
    }
  }
  ${authPayloadFields}
`;

export interface AuthPayload {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: { id: string; email: string };
  organization: { id: string; name?: string };
}

export const meQuery = /* GraphQL */ `
  {
    me {
      id
      email
    }
  }
`;
