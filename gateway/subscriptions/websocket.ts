import type { ApolloServer } from '@apollo/server';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import {
  GraphQLError,
  parse,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import type { Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { Counter, Gauge } from 'prom-client';
import type { WebSocket } from 'ws';
import { ApiKeyExchange } from '../../platform/auth/api-key-exchange.ts';
import type { Principal } from '../../platform/auth/principal.ts';
import type { Config } from '../../platform/config.ts';
import { DomainError } from '../../platform/errors.ts';
import { clientIp } from '../../platform/http/server.ts';
import { traceFromHeader } from '../../platform/http/trace-context.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { EventQueue } from '../../platform/subscriptions/event-queue.ts';
import { attachWebSocketServer } from '../../platform/subscriptions/websocket-upgrade.ts';
import type { GatewayContext } from '../context.ts';
import { SubscriptionFanout } from './fanout.ts';
import { formatError, frameWriter } from './frames.ts';
import type { PlannedSubscription } from './plan.ts';
import { UpstreamConnections } from './upstream.ts';

/**
 * Close codes the gateway uses besides graphql-ws's own (4400 bad message, 4408 init timeout…).
 * 4401 is fatal for graphql-ws clients (a configuration error: no credentials); 4403 and 4008 are
 * retried by them, which is what a client with a fresh token or a consumer that caught up wants.
 */
export const CloseCodes = {
  /** `connection_init` carried no credentials. */
  NoCredentials: 4401,
  /** The credentials are invalid, expired or revoked (also when a token expires mid-stream). */
  Forbidden: 4403,
  /** The client fell SUBSCRIPTION_QUEUE_LIMIT events behind (SUBSCRIPTION_SLOW_CONSUMER=close). */
  SlowConsumer: 4008,
} as const;

/** Who a WebSocket connection is, refreshed when the client sends a new token in a `ping`. */
interface Session {
  principal: Principal;
  forwardToken: string;
  /** What the client sent (an access token or an API key), to renew API-key sessions. */
  credential: string;
  /** Contexts of this connection's subscriptions, updated in place on refresh. */
  contexts: Set<GatewayContext>;
  expiry: NodeJS.Timeout | null;
}

type Extra = { socket: WebSocket; request: IncomingMessage };
type WsContext = Context<Record<string, unknown>, Extra>;

/** What the `execute`/`subscribe` hooks receive in place of a graphql-js context. */
type Operation =
  | { kind: 'stream'; stream: AsyncIterableIterator<never> }
  | { kind: 'result'; result: FormattedExecutionResult };

export interface GatewaySubscriptionsDeps {
  server: Server;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  apollo: ApolloServer<GatewayContext>;
  /** The API schema the gateway serves (graphql-ws needs one to hand to its hooks). */
  apiSchema: () => GraphQLSchema;
  /** Verifies an access token or exchanges an API key (throws DomainError when refused). */
  authenticate: (credential: string) => Promise<{ principal: Principal; forwardToken: string }>;
  /** Registers for API-key revocations (by key prefix) from any replica; returns the unsubscribe. */
  onApiKeyRevoked: (listener: (prefix: string) => void) => () => void;
}

// graphql-ws only looks at these documents' operation type: it then calls our execute/subscribe.
const streamDocument = parse('subscription { __typename }');
const resultDocument = parse('query { __typename }');

/**
 * Subscriptions over `graphql-transport-ws` on the gateway's `/graphql` (and `/`) port. A
 * connection authenticates once in `connection_init` (`{ authorization: "Bearer <token or API
 * key>" }`); each `subscribe` then goes through the same Apollo pipeline as an HTTP request (limits,
 * access rules, cost charged to the tenant's bucket), is planned by the query planner, and joins a
 * fan-out group fed by the owning subgraph (see fanout.ts). Events queue per subscriber up to
 * SUBSCRIPTION_QUEUE_LIMIT; a slower client is closed (4008) or loses the oldest events.
 */
export function serveGatewaySubscriptions(deps: GatewaySubscriptionsDeps): {
  close: () => Promise<void>;
} {
  const { config, logger } = deps;
  const registers = [deps.metrics.registry];
  const upstream = new UpstreamConnections(logger, config.SUBSCRIPTION_KEEPALIVE_SECONDS * 1000);
  const counters = {
    events: new Counter({
      name: 'lotabots_subscription_events_total',
      help: 'Subscription events resolved by the gateway (once per fan-out group)',
      registers,
    }),
    deliveries: new Counter({
      name: 'lotabots_subscription_deliveries_total',
      help: 'Resolved events handed to subscriber queues',
      registers,
    }),
    refused: new Counter({
      name: 'lotabots_subscription_connections_refused_total',
      help: 'WebSocket connections refused at connection_init, by close code',
      labelNames: ['code'],
      registers,
    }),
    slow: new Counter({
      name: 'lotabots_subscription_slow_consumers_total',
      help: 'Subscribers that fell SUBSCRIPTION_QUEUE_LIMIT events behind, by policy',
      labelNames: ['policy'],
      registers,
    }),
  };
  const fanout = new SubscriptionFanout(upstream, logger, {
    resolved: () => counters.events.inc(),
    delivered: (n) => counters.deliveries.inc(n),
  });
  const sessions = new Map<WsContext, Session>();
  // A revoked key's connections end now, not when their exchanged token would have expired.
  const stopRevocations = deps.onApiKeyRevoked((prefix) => {
    for (const [ctx, session] of sessions) {
      if (session.principal.apiKeyId && ApiKeyExchange.prefixOf(session.credential) === prefix) {
        ctx.extra.socket.close(CloseCodes.Forbidden, 'Forbidden: API key revoked');
      }
    }
  });
  const streams = new Set<EventQueue<string>>();
  new Gauge({
    name: 'lotabots_subscription_connections',
    help: 'Open, authenticated WebSocket connections',
    registers,
    collect() {
      this.set(sessions.size);
    },
  });
  new Gauge({
    name: 'lotabots_subscriptions_active',
    help: 'Open subscriptions, and upstream fan-out groups serving them',
    labelNames: ['kind'],
    registers,
    collect() {
      this.set({ kind: 'subscriber' }, streams.size);
      this.set({ kind: 'group' }, fanout.groupCount);
    },
  });

  const refuse = (ctx: WsContext, code: number, reason: string): false => {
    counters.refused.inc({ code: String(code) });
    ctx.extra.socket.close(code, closeReason(reason));
    return false;
  };

  /** Closes the connection when its token expires, unless it was refreshed (or is an API key). */
  const scheduleExpiry = (ctx: WsContext, session: Session) => {
    if (session.expiry) clearTimeout(session.expiry);
    const wait = Math.max(0, session.principal.expiresAt.getTime() - Date.now());
    session.expiry = setTimeout(() => {
      void (async () => {
        if (session.principal.apiKeyId) {
          // API keys do not expire with their access tokens: exchange the key again.
          try {
            const renewed = await deps.authenticate(session.credential);
            applyIdentity(session, renewed.principal, renewed.forwardToken);
            scheduleExpiry(ctx, session);
            return;
          } catch (error) {
            const reason = error instanceof DomainError ? error.message : 'key check failed';
            ctx.extra.socket.close(CloseCodes.Forbidden, closeReason(`Forbidden: ${reason}`));
            return;
          }
        }
        ctx.extra.socket.close(
          CloseCodes.Forbidden,
          'Forbidden: access token expired; reconnect with a fresh token',
        );
      })();
    }, wait);
    session.expiry.unref();
  };

  const server = useServer<Record<string, unknown>, Extra>(
    {
      schema: deps.apiSchema,
      connectionInitWaitTimeout: 10_000,
      onConnect: async (ctx) => {
        // Browsers cannot set headers on a WebSocket, so the credential normally travels in
        // connection_init; server-side clients may send the usual Authorization header instead.
        const params = ctx.connectionParams ?? {};
        const header =
          params.authorization ?? params.Authorization ?? ctx.extra.request.headers.authorization;
        const credential =
          typeof header === 'string'
            ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1]
            : typeof params.token === 'string'
              ? params.token
              : undefined;
        if (!credential) {
          return refuse(
            ctx,
            CloseCodes.NoCredentials,
            'Unauthorized: connection_init needs {"authorization": "Bearer <access token or API key>"}',
          );
        }
        try {
          const { principal, forwardToken } = await deps.authenticate(credential);
          // The client may have gone while its token was checked: nothing to register then.
          if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
          const session: Session = {
            principal,
            forwardToken,
            credential,
            contexts: new Set(),
            expiry: null,
          };
          sessions.set(ctx, session);
          scheduleExpiry(ctx, session);
          return true;
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          return refuse(ctx, CloseCodes.Forbidden, `Forbidden: ${error.message}`);
        }
      },
      // A client renews its token without dropping subscriptions by sending
      // `{"type":"ping","payload":{"authorization":"Bearer <new token>"}}` before it expires.
      onPing: async (ctx, payload) => {
        const session = sessions.get(ctx);
        const header = payload?.authorization;
        if (!session || typeof header !== 'string') return;
        const credential = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '';
        try {
          const { principal, forwardToken } = await deps.authenticate(credential);
          if (principal.organizationId !== session.principal.organizationId) {
            ctx.extra.socket.close(
              CloseCodes.Forbidden,
              'Forbidden: a connection cannot change organization; open a new one',
            );
            return;
          }
          session.credential = credential;
          applyIdentity(session, principal, forwardToken);
          scheduleExpiry(ctx, session);
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          ctx.extra.socket.close(CloseCodes.Forbidden, closeReason(`Forbidden: ${error.message}`));
        }
      },
      onSubscribe: async (ctx, id, payload) => {
        const session = sessions.get(ctx);
        if (!session) return [new GraphQLError('Not authenticated', unauthenticatedCode)];
        if (session.contexts.size >= config.SUBSCRIPTIONS_PER_CONNECTION) {
          return [
            new GraphQLError(
              `This connection already holds ${config.SUBSCRIPTIONS_PER_CONNECTION} operations ` +
                '(SUBSCRIPTIONS_PER_CONNECTION); complete some or open another connection',
              { extensions: { code: 'BAD_USER_INPUT' } },
            ),
          ];
        }
        const requestId = randomUUID();
        const capture: { planned?: PlannedSubscription } = {};
        const context: GatewayContext = {
          requestId,
          principal: session.principal,
          forwardToken: session.forwardToken,
          ip: clientIp(ctx.extra.request, config.TRUST_PROXY),
          trace: traceFromHeader(undefined),
          logger: logger.child({ requestId }),
          onSubscriptionPlanned: (plan) => {
            capture.planned = plan;
          },
        };
        const response = await deps.apollo.executeOperation(
          {
            query: payload.query || undefined,
            variables: payload.variables ?? undefined,
            operationName: payload.operationName ?? undefined,
            extensions: payload.extensions ?? undefined,
          },
          { contextValue: context },
        );
        if (response.body.kind !== 'single') {
          return [new GraphQLError('Incremental delivery is not supported over WebSocket')];
        }
        const result = response.body.singleResult;
        const planned = capture.planned;
        if (!planned) {
          if (result.errors?.length && !result.data) {
            return result.errors.map(
              (e) => new GraphQLError(e.message, { extensions: { ...e.extensions, requestId } }),
            );
          }
          // A query or mutation sent over the socket: answered once, then completed.
          const operation: Operation = { kind: 'result', result };
          return { schema: deps.apiSchema(), document: resultDocument, contextValue: operation };
        }
        // Apollo ran the operation with a copy of `context`; the plan holds that copy, which is
        // the one a token refresh must update.
        const live = planned.requestContext.context as GatewayContext;
        session.contexts.add(live);
        let leave = () => {};
        const queue = new EventQueue<string>({
          limit: config.SUBSCRIPTION_QUEUE_LIMIT,
          policy: config.SUBSCRIPTION_SLOW_CONSUMER,
          onOverflow: (pending) => {
            counters.slow.inc({ policy: 'close' });
            logger.warn(
              { requestId, organizationId: session.principal.organizationId, pending },
              'slow subscriber closed',
            );
            ctx.extra.socket.close(
              CloseCodes.SlowConsumer,
              closeReason(`Slow consumer: ${pending} events pending; reconnect and resubscribe`),
            );
          },
          onEnd: () => {
            if (queue.dropped > 0) counters.slow.inc({ policy: 'drop-oldest' });
            streams.delete(queue);
            session.contexts.delete(live);
            leave();
          },
        });
        streams.add(queue);
        leave = fanout.join({ planned, context: live, queue });
        const operation: Operation = {
          kind: 'stream',
          stream: frameWriter(queue, ctx.extra.socket, id),
        };
        return { schema: deps.apiSchema(), document: streamDocument, contextValue: operation };
      },
      // Apollo's results carry formatted (plain) errors where graphql-ws types GraphQLError;
      // onNext formats both kinds, so the cast only reconciles the declared types.
      subscribe: (args: ExecutionArgs) => {
        const operation = args.contextValue as Operation;
        return operation.kind === 'stream'
          ? operation.stream
          : (operation.result as ExecutionResult);
      },
      execute: (args: ExecutionArgs) => {
        const operation = args.contextValue as Operation;
        return operation.kind === 'result' ? (operation.result as ExecutionResult) : { data: null };
      },
      onNext: (_ctx, _id, _payload, _args, result) => ({
        ...result,
        ...(result.errors ? { errors: result.errors.map(formatError) } : {}),
      }),
      onError: (_ctx, _id, _payload, errors) => errors.map(formatError),
      onClose: (ctx) => {
        const session = sessions.get(ctx);
        if (!session) return;
        if (session.expiry) clearTimeout(session.expiry);
        sessions.delete(ctx);
      },
    },
    attachWebSocketServer(deps.server, {
      paths: ['/graphql', '/'],
      maxPayload: config.MAX_BODY_BYTES,
      logger,
    }),
    config.SUBSCRIPTION_KEEPALIVE_SECONDS * 1000,
  );

  return {
    /**
     * Graceful shutdown: every open subscription is completed (its queued events first, then a
     * `complete` message), then connections close with 1001 (graphql-ws's dispose).
     */
    close: async () => {
      stopRevocations();
      for (const queue of streams) queue.end();
      const deadline = Date.now() + 5_000;
      while (streams.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // graphql-ws queues each `complete` right after its stream ends; let those go out first.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await server.dispose();
      await upstream.close();
    },
  };
}

const unauthenticatedCode = { extensions: { code: 'UNAUTHENTICATED' } };

function applyIdentity(session: Session, principal: Principal, forwardToken: string): void {
  session.principal = principal;
  session.forwardToken = forwardToken;
  for (const context of session.contexts) {
    context.principal = principal;
    context.forwardToken = forwardToken;
  }
}

/** WebSocket close reasons are at most 123 bytes. */
function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let text = reason.slice(0, 120);
  while (Buffer.byteLength(text) > 120) text = text.slice(0, -1);
  return `${text}…`;
}
