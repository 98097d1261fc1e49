import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import type { GatewayContext } from '../context.ts';
import { measureOperation, type OperationMeasure } from './measure.ts';

/** The per-operation maxima (MAX_QUERY_DEPTH, MAX_QUERY_ALIASES, MAX_ROOT_FIELDS). */
export interface OperationLimits {
  depth: number;
  aliases: number;
  rootFields: number;
}

const checks: { key: keyof OperationLimits & keyof OperationMeasure; what: string }[] = [
  { key: 'depth', what: 'depth' },
  { key: 'aliases', what: 'alias count' },
  { key: 'rootFields', what: 'root field count' },
];

/**
 * The first limit `operation` exceeds, as the error to answer with (HTTP 400, code BAD_USER_INPUT,
 * `extensions.limit` / `maximum` / `actual` for clients that adapt), or null when it is within all
 * of them. Exported so another transport (WebSocket subscriptions) can apply the same rules.
 */
export function checkOperationLimits(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  limits: OperationLimits,
): GraphQLError | null {
  const measure = measureOperation(document, operation);
  for (const { key, what } of checks) {
    if (measure[key] > limits[key]) {
      return new GraphQLError(`Query ${what} ${measure[key]} exceeds the limit of ${limits[key]}`, {
        extensions: {
          code: 'BAD_USER_INPUT',
          limit: key,
          maximum: limits[key],
          actual: measure[key],
          http: { status: 400 },
        },
      });
    }
  }
  return null;
}

/**
 * Rejects operations over the limits in `didResolveOperation`: after parsing (already capped by
 * MAX_QUERY_TOKENS) and validation, before the gateway's executor plans the query or fetches from
 * any subgraph. It is the hook Apollo documents for this: an error thrown there becomes the
 * operation's response (with the status in `extensions.http`), per operation in a batch.
 */
export function operationLimitsPlugin(limits: OperationLimits): ApolloServerPlugin<GatewayContext> {
  return {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation({ document, operation }) {
          // No operation means Apollo/the gateway will answer "unknown operation" themselves.
          if (!operation) return Promise.resolve();
          const error = checkOperationLimits(document, operation, limits);
          // Thrown, not returned as a rejected promise: Apollo calls every plugin's hook in one
          // `map` inside its try block before awaiting any. Thrown here (this layer comes first),
          // the later plugins (access rules, rate limits) never start, so a refused operation is
          // not metered, and no rejected promise is left unobserved if a later hook throws too.
          if (error) throw error;
          return Promise.resolve();
        },
      });
    },
  };
}
