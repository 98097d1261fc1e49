import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import {
  GraphQLError,
  isObjectType,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { applyMiddleware, type IMiddlewareFieldMap } from 'graphql-middleware';
import { allow, deny, shield, type IRules } from 'graphql-shield';
import type { Server } from 'node:http';
import type { AccessTokenVerifier } from './auth/access-token.ts';
import { bearerCredential } from './auth/access-token.ts';
import type { Principal } from './auth/principal.ts';
import type { Config } from './config.ts';
import { DomainError, maskError, toGraphQLError } from './errors.ts';
import { graphqlRoute } from './http/graphql.ts';
import {
  clientIp,
  closeServer,
  createHttpServer,
  listen,
  sendJson,
  type Route,
} from './http/server.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { serveSubgraphSubscriptions } from './subscriptions/subgraph-websocket.ts';

/** The context every subgraph resolver receives. Domains extend it with their own services. */
export interface BaseContext {
  requestId: string;
  principal: Principal | null;
  /** The end client's address as the gateway saw it. */
  ip: string;
  /**
   * The Authorization value the principal was proven by, for calls this subgraph makes to another
   * on the caller's behalf (they verify it themselves).
   */
  authorization: string | null;
  logger: Logger;
}

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export interface SubgraphDefinition<TContext extends BaseContext> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<TContext>;
  /** graphql-shield rules; anything not listed is denied. */
  permissions: IRules;
  /** Adds per-request state (DataLoaders, services) to the base context. */
  buildContext: (base: BaseContext) => TContext | Promise<TContext>;
  routes?: Route[];
  readiness?: ReadinessCheck[];
}

export interface RunningService {
  name: string;
  url: string;
  port: number;
  server: Server;
  stop: () => Promise<void>;
}

const forbiddenByDefault = new GraphQLError('You are not allowed to access this field', {
  extensions: { code: 'FORBIDDEN' },
});

/**
 * Serves one federated subgraph: builds the subgraph schema, wraps it in graphql-shield with a
 * deny fallback, verifies the forwarded access token itself (never trusting the gateway alone),
 * and exposes /graphql, /healthz, /readyz and /metrics.
 */
export async function startSubgraphServer<TContext extends BaseContext>(
  definition: SubgraphDefinition<TContext>,
  deps: {
    config: Config;
    logger: Logger;
    metrics: Metrics;
    verifyAccessToken: AccessTokenVerifier;
    host: string;
    port: number;
  },
): Promise<RunningService> {
  const { config, logger, metrics } = deps;
  const subgraphSchema = buildSubgraphSchema([
    { typeDefs: definition.typeDefs, resolvers: definition.resolvers },
  ]);
  const rules = withFederationRules(definition.permissions);
  const guard = shield(rules, {
    fallbackRule: deny,
    fallbackError: forbiddenByDefault,
    // Resolver errors (DomainError) must reach formatError intact instead of "Not Authorised!".
    allowExternalErrors: true,
  }).generate(subgraphSchema) as IMiddlewareFieldMap;
  const schema = applyMiddleware(subgraphSchema, withoutOpenTypes(guard, rules, subgraphSchema));

  const apollo = new ApolloServer<TContext>({
    schema,
    logger,
    introspection: config.NODE_ENV !== 'production',
    includeStacktraceInErrorResponses: false,
    // Shutdown is ours (bin/lotabots.ts): Apollo's own handler would re-raise the signal after
    // stopping and turn a clean exit into 143.
    stopOnTerminationSignals: false,
    // The gateway serves the landing page; subgraphs answer only GraphQL.
    // No cache hints are set anywhere, and the cache-control plugin Apollo installs by default
    // runs a hook per resolved field (measurable on large answers such as a fleet inventory).
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginCacheControlDisabled(),
      operationMetrics(metrics),
    ],
    formatError: (formatted, error) => formatSubgraphError(formatted, error, logger),
  });
  await apollo.start();

  const readiness = definition.readiness ?? [];
  const server = createHttpServer({
    logger,
    metrics,
    routes: [
      {
        path: '/graphql',
        methods: ['GET', 'POST'],
        handler: graphqlRoute(apollo, {
          maxBodyBytes: config.MAX_BODY_BYTES,
          context: async (req, scope) =>
            definition.buildContext({
              requestId: scope.requestId,
              principal: await authenticate(req.headers.authorization, deps.verifyAccessToken),
              authorization: req.headers.authorization ?? null,
              ip: clientIp(req, true),
              logger: scope.logger,
            }),
        }),
      },
      {
        path: '/healthz',
        methods: ['GET'],
        handler: (_req, res) => sendJson(res, 200, { status: 'ok', service: definition.name }),
      },
      {
        path: '/readyz',
        methods: ['GET'],
        handler: async (_req, res) => {
          const results = await runReadiness(readiness);
          sendJson(res, results.ready ? 200 : 503, { service: definition.name, ...results });
        },
      },
      {
        path: '/metrics',
        methods: ['GET'],
        handler: async (_req, res) => {
          res.setHeader('content-type', metrics.registry.contentType);
          res.end(await metrics.registry.metrics());
        },
      },
      ...(definition.routes ?? []),
    ],
  });
  // Subgraphs that own Subscription fields serve them over graphql-ws on the same port.
  const subscriptions = schema.getSubscriptionType()
    ? serveSubgraphSubscriptions<TContext>({
        server,
        schema,
        maxPayloadBytes: config.MAX_BODY_BYTES,
        keepAliveMs: config.SUBSCRIPTION_KEEPALIVE_SECONDS * 1000,
        logger,
        authenticate: (authorization) => authenticate(authorization, deps.verifyAccessToken),
        buildContext: ({ requestId, principal, authorization }) =>
          Promise.resolve(
            definition.buildContext({
              requestId,
              principal,
              authorization,
              // One upstream subscription serves many end clients (fan-out), so no single
              // client address applies; resolvers see that it came through the gateway.
              ip: 'gateway',
              logger: logger.child({ requestId }),
            }),
          ),
        formatError: (error) => formatSubgraphError(error.toJSON(), error, logger),
      })
    : null;
  const { port, url } = await listen(server, deps.host, deps.port);
  logger.info({ url: `${url}/graphql` }, 'subgraph listening');
  return {
    name: definition.name,
    url: `${url}/graphql`,
    port,
    server,
    stop: async () => {
      await subscriptions?.close();
      await closeServer(server);
      await apollo.stop();
    },
  };
}

/**
 * Turns a resolver failure into what the caller sees: a DomainError keeps its code and message,
 * anything else is logged and masked as INTERNAL_SERVER_ERROR.
 */
function formatSubgraphError(
  formatted: GraphQLFormattedError,
  error: unknown,
  logger: Logger,
): GraphQLFormattedError {
  const original = (error as GraphQLError | undefined)?.originalError;
  if (original instanceof DomainError) {
    const mapped = toGraphQLError(original);
    return { ...formatted, message: mapped.message, extensions: mapped.extensions };
  }
  if (original && !(original instanceof GraphQLError)) {
    logger.error({ err: original, path: formatted.path }, 'resolver failed');
  }
  const requestId =
    typeof formatted.extensions?.requestId === 'string'
      ? formatted.extensions.requestId
      : undefined;
  return maskError(formatted, requestId);
}

async function authenticate(
  authorization: string | undefined,
  verify: AccessTokenVerifier,
): Promise<Principal | null> {
  try {
    const token = bearerCredential(authorization);
    return token ? await verify(token) : null;
  } catch (error) {
    if (error instanceof DomainError) {
      const mapped = toGraphQLError(error);
      throw new GraphQLError(mapped.message, {
        extensions: { ...mapped.extensions, http: { status: 401 } },
      });
    }
    throw error;
  }
}

/**
 * graphql-shield wraps every field in an async middleware, even fields whose rule is `allow`, and
 * that turns a large answer's synchronous field resolution into one promise per field (a 100-node
 * GPU inventory is ~20,000 fields: most of its response time). Object types whose every field is
 * `allow` gain nothing from the wrapper, so their fields are left unwrapped; root types and
 * any type with a real rule (or a field the tree does not name, which the fallback denies) keep it.
 */
function withoutOpenTypes(
  guard: IMiddlewareFieldMap,
  rules: IRules,
  schema: GraphQLSchema,
): IMiddlewareFieldMap {
  const tree = rules as Record<string, Record<string, unknown> | undefined>;
  const kept: IMiddlewareFieldMap = {};
  for (const [typeName, middleware] of Object.entries(guard)) {
    const type = schema.getType(typeName);
    const typeRules = tree[typeName];
    const open =
      !['Query', 'Mutation', 'Subscription'].includes(typeName) &&
      isObjectType(type) &&
      typeRules !== undefined &&
      Object.keys(type.getFields()).every((field) => typeRules[field] === allow);
    if (!open) kept[typeName] = middleware;
  }
  return kept;
}

/** Federation's own fields must stay reachable or the gateway cannot plan or fetch entities. */
function withFederationRules(rules: IRules): IRules {
  const tree = rules as Record<string, unknown>;
  const query = (tree.Query ?? {}) as Record<string, unknown>;
  return {
    ...tree,
    Query: { ...query, _service: allow, _entities: allow },
    _Service: { sdl: allow },
  };
}

export async function runReadiness(
  checks: ReadinessCheck[],
): Promise<{ ready: boolean; checks: Record<string, { ok: boolean; error?: string }> }> {
  const results: Record<string, { ok: boolean; error?: string }> = {};
  await Promise.all(
    checks.map(async ({ name, check }) => {
      try {
        await withTimeout(check(), 2_000);
        results[name] = { ok: true };
      } catch (error) {
        results[name] = {
          ok: false,
          error: error instanceof Error ? error.message : String(error),
        };
      }
    }),
  );
  return { ready: Object.values(results).every((r) => r.ok), checks: results };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Counts operations by name and outcome, and their latency, in the service's registry. */
export function operationMetrics<T extends object>(metrics: Metrics): ApolloServerPlugin<T> {
  return {
    requestDidStart() {
      const started = process.hrtime.bigint();
      return Promise.resolve({
        willSendResponse(ctx) {
          const operation = ctx.operationName ?? ctx.request.operationName ?? 'anonymous';
          const outcome = (ctx.errors?.length ?? 0) > 0 ? 'error' : 'ok';
          metrics.graphqlOperations.inc({ operation, outcome });
          metrics.graphqlDuration.observe(
            { operation },
            Number(process.hrtime.bigint() - started) / 1e9,
          );
          return Promise.resolve();
        },
      });
    },
  };
}
