import type { ApolloServerPlugin, PersistedQueryOptions } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { GatewayContext } from '../context.ts';

/** The code of the error answering an operation that is not in the safelist. */
export const NOT_IN_SAFELIST = 'PERSISTED_QUERY_NOT_IN_SAFELIST';

const manifestSchema = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(
    z.object({
      id: z.string().min(1),
      name: z.string(),
      type: z.enum(['query', 'mutation', 'subscription']),
      body: z.string().min(1),
    }),
  ),
});

/** The registered operations: bodies by id, and the sha256 of every body. */
export interface Safelist {
  byId: Map<string, string>;
  bodyHashes: Set<string>;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Reads an Apollo persisted query manifest (`apollo-persisted-query-manifest`, version 1, as
 * written by `generate-persisted-query-manifest`). Throws with the file name and the problem: a
 * gateway in safelist mode must not start with a list it cannot read.
 */
export function loadSafelist(path: string): Safelist {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`PERSISTED_QUERIES_MANIFEST ${path}: ${(error as Error).message}`);
  }
  const manifest = manifestSchema.safeParse(parsed);
  if (!manifest.success) {
    const problems = manifest.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(
      `PERSISTED_QUERIES_MANIFEST ${path} is not a persisted query manifest: ${problems.join('; ')}`,
    );
  }
  const safelist: Safelist = { byId: new Map(), bodyHashes: new Set() };
  for (const operation of manifest.data.operations) {
    safelist.byId.set(operation.id, operation.body);
    safelist.bodyHashes.add(sha256(operation.body));
  }
  return safelist;
}

/**
 * A read-only APQ cache over the manifest, so Apollo's own persisted-query path answers a request
 * that sends only the id. Registration attempts are ignored: in safelist mode nothing is added at
 * run time. Apollo prefixes keys with `apq:`.
 */
export function safelistCache(safelist: Safelist): NonNullable<PersistedQueryOptions['cache']> {
  return {
    get: (key) => Promise.resolve(safelist.byId.get(key.replace(/^apq:/, ''))),
    set: () => Promise.resolve(),
    delete: () => Promise.resolve(false),
  };
}

// A refused request is swapped for this tiny constant document so Apollo parses and validates
// nothing the client sent; the refusal itself is answered from `didResolveOperation`, the hook
// whose errors Apollo turns into a per-operation response (batches included).
const REFUSED_DOCUMENT = 'query PersistedQueryNotInSafelist { __typename }';

/**
 * Executes only operations of the manifest, sent by id (`extensions.persistedQuery.sha256Hash`),
 * by full body, or both; anything else answers 403 PERSISTED_QUERY_NOT_IN_SAFELIST before the
 * document is parsed.
 */
export function safelistPlugin(safelist: Safelist): ApolloServerPlugin<GatewayContext> {
  return {
    requestDidStart({ request }) {
      const hash = (request.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined)
        ?.sha256Hash;
      const query = request.query;
      let refusal: string | null = null;
      if (hash !== undefined) {
        const body = typeof hash === 'string' ? safelist.byId.get(hash) : undefined;
        if (body === undefined) refusal = 'Persisted query id is not in the safelist';
        else if (query !== undefined && query !== body)
          refusal = 'Query does not match the safelisted operation with this id';
      } else if (query !== undefined && !safelist.bodyHashes.has(sha256(query))) {
        refusal = 'Operation is not in the safelist; send a registered operation or its id';
      }
      // Neither an id nor a query: Apollo's own "must contain a non-empty query" answer is right.
      if (refusal === null) return Promise.resolve();

      const error = new GraphQLError(refusal, {
        extensions: { code: NOT_IN_SAFELIST, http: { status: 403 } },
      });
      // Apollo reads `query` and `extensions` after requestDidStart, so this replaces what runs.
      const { persistedQuery: _dropped, ...extensions } = request.extensions ?? {};
      request.extensions = extensions;
      request.query = REFUSED_DOCUMENT;
      request.operationName = undefined;
      return Promise.resolve({
        // Thrown rather than rejected for the reason given in operation-limits.ts.
        didResolveOperation: () => {
          throw error;
        },
      });
    },
  };
}

/**
 * Gives Apollo's own persisted-query refusals that carry an HTTP status but no code ("provided sha
 * does not match query", "Unsupported persisted query version") the code BAD_REQUEST. Without one
 * the gateway's error mask would turn a client's mistake into INTERNAL_SERVER_ERROR.
 */
export function persistedQueryErrorCodes(): ApolloServerPlugin<GatewayContext> {
  return {
    requestDidStart() {
      return Promise.resolve({
        didEncounterErrors({ errors, operation }) {
          // Only errors raised before an operation was resolved: later ones are not Apollo's.
          if (operation) return Promise.resolve();
          for (const error of errors) {
            const http = error.extensions.http as { status?: number } | undefined;
            const status = http?.status ?? 0;
            if (error.extensions.code === undefined && status >= 400 && status < 500) {
              (error.extensions as Record<string, unknown>).code = 'BAD_REQUEST';
            }
          }
          return Promise.resolve();
        },
      });
    },
  };
}
