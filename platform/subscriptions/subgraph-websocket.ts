import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import {
  GraphQLError,
  OperationTypeNode,
  getOperationAST,
  parse,
  validate,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { Principal } from '../auth/principal.ts';
import type { Logger } from '../logger.ts';
import { attachWebSocketServer } from './websocket-upgrade.ts';

/** Where a subgraph subscription carries the subscriber's access token: the operation's extensions. */
export interface SubgraphSubscribeExtensions {
  /** `Bearer <access token>` of the end user the gateway subscribes for. */
  authorization?: string;
  /** The gateway's request id for this subscription, for log correlation. */
  requestId?: string;
}

export interface SubgraphSubscriptionsOptions<TContext> {
  server: Server;
  schema: GraphQLSchema;
  maxPayloadBytes: number;
  keepAliveMs: number;
  logger: Logger;
  /** Verifies `Bearer …`; throws a GraphQLError (UNAUTHENTICATED) for a bad token. */
  authenticate: (authorization: string | undefined) => Promise<Principal | null>;
  buildContext: (base: {
    requestId: string;
    principal: Principal | null;
    authorization: string | null;
  }) => Promise<TContext>;
  formatError: (error: GraphQLError) => GraphQLFormattedError;
}

/**
 * Serves a subgraph's `Subscription` fields over graphql-ws on its `/graphql` port. The gateway
 * multiplexes every subscriber onto one connection per subgraph, so authentication is per
 * operation, not per connection: each `subscribe` carries its end user's token in
 * `extensions.authorization`, verified here exactly as an HTTP request's header would be, and
 * the operation's resolvers see that user's organization — the tenant check on every event happens
 * in the subgraph that owns the data.
 */
export function serveSubgraphSubscriptions<TContext>(
  options: SubgraphSubscriptionsOptions<TContext>,
): { close: () => Promise<void> } {
  const { schema, logger } = options;
  const wss = attachWebSocketServer(options.server, {
    paths: ['/graphql'],
    maxPayload: options.maxPayloadBytes,
    logger,
  });
  const format = (errors: readonly GraphQLError[]) => errors.map(options.formatError);
  const server = useServer<Record<string, unknown>>(
    {
      schema,
      onSubscribe: async (_ctx, _id, payload) => {
        const extensions = (payload.extensions ?? {}) as SubgraphSubscribeExtensions;
        let principal: Principal | null;
        try {
          principal = await options.authenticate(extensions.authorization);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const operation = getOperationAST(document, payload.operationName);
        if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) {
          return [
            new GraphQLError('Only subscriptions are served over WebSocket; use HTTP POST', {
              extensions: { code: 'BAD_USER_INPUT' },
            }),
          ];
        }
        const requestId = extensions.requestId ?? randomUUID();
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await options.buildContext({
            requestId,
            principal,
            authorization: extensions.authorization ?? null,
          }),
        };
      },
      onNext: (_ctx, _id, _payload, _args, result: ExecutionResult) =>
        result.errors ? { ...result, errors: format(result.errors) } : undefined,
      onError: (_ctx, _id, _payload, errors) => format(errors),
    },
    wss,
    options.keepAliveMs,
  );
  return {
    close: async () => {
      try {
        await server.dispose();
      } catch (err) {
        logger.warn({ err }, 'subscription server did not close cleanly');
      }
    },
  };
}
