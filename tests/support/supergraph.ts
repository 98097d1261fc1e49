import { createServer } from 'node:net';
import type { DestinationStream } from 'pino';
import { createLogger } from '../../platform/logger.ts';
import { startSupergraph, type RunningSupergraph } from '../../platform/supergraph.ts';
import { testConfig } from './config.ts';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

export interface TestSupergraph extends RunningSupergraph {
  /** Gateway base URL without a path, e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  /** POSTs an operation to the gateway's /graphql over real HTTP. */
  graphql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string | null,
  ): Promise<GraphQLResponse<T>>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}

/**
 * A port for the gateway, known before it starts (PUBLIC_URL names it). It comes from below the
 * kernel's ephemeral range (32768–60999 on Linux): the subgraphs, which listen on port 0 while the
 * gateway waits for them, are given ephemeral ports and so can never take it first.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await portIsFree(port)) return port;
  }
}

/**
 * Boots the whole supergraph exactly as `npm start` does (every subgraph and the gateway on
 * loopback HTTP), on this test file's own data dir / schema / key prefix. Embedded stores by
 * default; PostgreSQL, Redis and S3 when the environment names them (.ci/run).
 */
export async function startTestSupergraph(
  overrides: Record<string, string | undefined> = {},
  options: { logDestination?: DestinationStream } = {},
): Promise<TestSupergraph> {
  const port = await freePort();
  const config = testConfig({
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    ...overrides,
  });
  const supergraph = await startSupergraph(
    config,
    createLogger(config, {}, options.logDestination),
    { seedDemo: false },
  );
  const baseUrl = `http://127.0.0.1:${supergraph.gateway.port}`;
  return {
    ...supergraph,
    baseUrl,
    async graphql(query, variables, token) {
      const response = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as Omit<GraphQLResponse, 'status' | 'headers'>;
      return { status: response.status, headers: response.headers, ...body } as never;
    },
  };
}

let counter = 0;
/** A unique, valid sign-up for this test run. */
export function newAccount(label = 'user'): {
  email: string;
  password: string;
  organizationName: string;
} {
  counter += 1;
  const id = `${Date.now().toString(36)}${counter}${Math.random().toString(36).slice(2, 6)}`;
  return {
    email: `${label}-${id}@example.com`,
    password: `Correct horse battery staple ${id}`,
    organizationName: `${label} org ${id}`,
  };
}

/** The AuthPayload fields every sign-in style mutation in the tests selects. */
export const authPayloadFields = /* GraphQL */ `
  fragment AuthPayloadFields on AuthPayload {
    accessToken
    refreshToken
    expiresIn
    user {
      id
      email
    }
    organization {
      id
      name
      slug
      tier
    }
  }
`;

export const signUpMutation = /* GraphQL */ `
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      ...AuthPayloadFields
    }
  }
  ${authPayloadFields}
`;

export interface SignedUp {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: { id: string; email: string };
  organization: { id: string; name: string; slug: string; tier: string };
  email: string;
  password: string;
}

/** Signs up a fresh user + organization through the gateway and returns its tokens. */
export async function signUp(supergraph: TestSupergraph, label = 'user'): Promise<SignedUp> {
  const account = newAccount(label);
  const result = await supergraph.graphql<{ signUp: Omit<SignedUp, 'email' | 'password'> }>(
    signUpMutation,
    {
      input: account,
    },
  );
  if (!result.data?.signUp) throw new Error(`sign-up failed: ${JSON.stringify(result.errors)}`);
  return { ...result.data.signUp, email: account.email, password: account.password };
}

/** The error code of the first error, for terse assertions. */
export function errorCode(result: GraphQLResponse<unknown>): unknown {
  return result.errors?.[0]?.extensions?.code;
}
