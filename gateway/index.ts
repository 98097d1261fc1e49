import { ApolloGateway, IntrospectAndCompose, UplinkSupergraphManager } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginLandingPageLocalDefault,
  ApolloServerPluginLandingPageProductionDefault,
} from '@apollo/server/plugin/landingPage/default';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { bearerCredential } from '../platform/auth/access-token.ts';
import { createIdentityClient } from '../platform/auth/identity-client.ts';
import { DomainError, maskError, toGraphQLError } from '../platform/errors.ts';
import { graphqlRoute } from '../platform/http/graphql.ts';
import {
  clientIp,
  closeServer,
  createHttpServer,
  listen,
  sendJson,
  HttpError,
  type RequestScope,
  type RouteHandler,
} from '../platform/http/server.ts';
import type { Logger } from '../platform/logger.ts';
import { createMetrics } from '../platform/metrics.ts';
import { createObjectHttpHandler } from '../platform/objects/index.ts';
import { startTracing, withIncomingTrace } from '../platform/tracing.ts';
import type { Runtime } from '../platform/runtime.ts';
import {
  operationMetrics,
  runReadiness,
  type RunningService,
} from '../platform/subgraph-server.ts';
import type { GatewayContext } from './context.ts';
import { createGatewayLayers, type GatewayLayer } from './extensions.ts';
import { createSubgraphMetrics, SubgraphDataSource } from './subgraph-source.ts';
import { subscriptionPlanning } from './subscriptions/plan.ts';
import { serveGatewaySubscriptions } from './subscriptions/websocket.ts';
import { dashboardRoutes } from './dashboard-routes.ts';
import { handlingAuthFeatures, watchSupergraphFile } from './supergraph-file.ts';

export type { GatewayContext };

export interface GatewayOptions {
  host: string;
  port: number;
  /** Subgraph name → GraphQL URL; overrides the routing URLs in the supergraph. */
  subgraphUrls: Record<string, string>;
  /** Base URL of the identity service (JWKS and API key exchange). */
  identityUrl: string;
}

/**
 * Starts the gateway: @apollo/gateway inside Apollo Server 5 on one HTTP server, authenticating
 * every request before planning, and serving JWKS, health, readiness, metrics and (embedded mode)
 * the signed object URLs.
 */
export async function startGateway(
  runtime: Runtime,
  options: GatewayOptions,
): Promise<RunningService> {
  const { config } = runtime;
  const logger = runtime.logger.child({ service: 'gateway' });
  const metrics = createMetrics('gateway');
  const tracing = startTracing(config, logger);
  const { verifyAccessToken, apiKeys, jwksUrl } = createIdentityClient({
    config,
    identityUrl: options.identityUrl,
    events: runtime.events,
    logger,
  });
  // Revocation events matter, but a bus that is down must not keep the gateway from starting
  // (ioredis would retry for over a minute): wait briefly, then let the subscription finish in
  // the background. Until it does, a revoked key keeps working at most until its cached token
  // expires (5 minutes); /readyz reports the bus as down meanwhile.
  const subscribed = apiKeys.start().then(
    () => true,
    (error: unknown) => {
      logger.error({ err: error }, 'API key revocation events unavailable');
      return false;
    },
  );
  await Promise.race([
    subscribed,
    new Promise((resolveTimer) => setTimeout(resolveTimer, 5_000).unref()),
  ]);

  // The supergraph comes from the committed file (watched for changes), from the subgraphs'
  // introspection, or from Apollo Uplink; the layers always see the one the gateway serves.
  const supergraphFile =
    config.SUPERGRAPH_SOURCE === 'file'
      ? watchSupergraphFile(resolve(config.SUPERGRAPH_PATH), config.SUPERGRAPH_WATCH, logger)
      : null;
  let currentSupergraph = supergraphFile?.current() ?? '';
  const layers = await createGatewayLayers({
    runtime,
    logger,
    metrics,
    supergraphSdl: () => currentSupergraph,
  });
  const subgraphMetrics = createSubgraphMetrics(metrics);
  const buildService = ({ name, url }: { name: string; url?: string }) =>
    new SubgraphDataSource(name, options.subgraphUrls[name] ?? url ?? '', subgraphMetrics);
  const manager =
    supergraphFile?.manager ??
    handlingAuthFeatures(
      config.SUPERGRAPH_SOURCE === 'introspect'
        ? new IntrospectAndCompose({
            subgraphs: Object.entries(options.subgraphUrls).map(([name, url]) => ({ name, url })),
          })
        : new UplinkSupergraphManager({
            apiKey: config.APOLLO_KEY ?? '',
            graphRef: config.APOLLO_GRAPH_REF ?? '',
            logger,
          }),
    );
  // Subscriptions are planned by @apollo/gateway like any operation; the plan is kept for the
  // WebSocket layer, which executes it per event (subscriptions/).
  const planning = subscriptionPlanning(() => gateway);
  const gateway: ApolloGateway = new ApolloGateway({
    supergraphSdl: manager,
    buildService,
    logger,
    experimental_didResolveQueryPlan: planning.hook,
  });
  let apiSchema: GraphQLSchema | null = null;
  gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl, apiSchema: schema }) => {
    currentSupergraph = coreSupergraphSdl;
    apiSchema = schema;
  });

  const development = config.NODE_ENV !== 'production';
  const apollo = new ApolloServer<GatewayContext>({
    gateway: planning.wrap(gateway),
    logger,
    introspection: config.INTROSPECTION ?? development,
    csrfPrevention: config.CSRF_PREVENTION,
    // Batches are allowed up to MAX_BATCH_SIZE operations (checked in the HTTP route before parsing).
    allowBatchedHttpRequests: config.MAX_BATCH_SIZE > 1,
    includeStacktraceInErrorResponses: false,
    // Shutdown is ours (bin/lotabots.ts): Apollo's own handler would re-raise the signal after
    // stopping and turn a clean exit into 143.
    stopOnTerminationSignals: false,
    ...(config.APOLLO_KEY && config.APOLLO_GRAPH_REF
      ? { apollo: { key: config.APOLLO_KEY, graphRef: config.APOLLO_GRAPH_REF } }
      : {}),
    plugins: [
      development
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
        : ApolloServerPluginLandingPageProductionDefault({ footer: false }),
      operationMetrics(metrics),
      requestIdInErrors(),
      ...layers.flatMap((layer) => layer.plugins ?? []),
    ],
    ...mergeServerOptions(layers),
    formatError: (formatted) => maskError(formatted, undefined),
  });
  await apollo.start();

  /** An access token, or an API key exchanged for one (cached), to who is calling. */
  const authenticateCredential = async (credential: string) => {
    const token = await apiKeys.accessTokenFor(credential);
    return { principal: await verifyAccessToken(token), forwardToken: token };
  };
  const authenticate = async (
    req: IncomingMessage,
  ): Promise<Pick<GatewayContext, 'principal' | 'forwardToken'>> => {
    try {
      const credential = bearerCredential(req.headers.authorization);
      if (!credential) return { principal: null, forwardToken: null };
      return await authenticateCredential(credential);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      const mapped = toGraphQLError(error);
      throw new GraphQLError(mapped.message, {
        extensions: { ...mapped.extensions, http: { status: 401 } },
      });
    }
  };

  const graphql = graphqlRoute(apollo, {
    maxBodyBytes: config.MAX_BODY_BYTES,
    maxBatchSize: Math.min(
      config.MAX_BATCH_SIZE,
      ...layers.map((layer) => layer.maxBatchSize ?? Infinity),
    ),
    context: async (req, scope: RequestScope) => ({
      requestId: scope.requestId,
      ...(await authenticate(req)),
      ip: clientIp(req, config.TRUST_PROXY),
      trace: scope.trace,
      logger: scope.logger,
    }),
  });
  const traced: RouteHandler = (req, res, scope) =>
    withIncomingTrace(req.headers, () => graphql(req, res, scope));
  const objects =
    runtime.objects.kind === 'filesystem'
      ? createObjectHttpHandler(runtime.objects, config, logger)
      : null;

  // Access-token keys (identity) and attestation-result keys (hardware and model attestation)
  // share one published set: relying parties need only the gateway's URL.
  const keySetUrls = ['hardware-attestation', 'model-attestation']
    .map((name) => options.subgraphUrls[name])
    .filter((url): url is string => Boolean(url))
    .map((url) => url.replace(/\/graphql$/, '/.well-known/jwks.json'));
  let jwksCache: { body: unknown; at: number } | null = null;
  const server = createHttpServer({
    logger,
    metrics,
    cors: {
      allowedOrigins: config.CORS_ORIGINS.split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    },
    routes: [
      { path: '/graphql', methods: ['GET', 'POST'], handler: traced },
      { path: '/', methods: ['GET', 'POST'], name: '/graphql', handler: traced },
      {
        path: '/.well-known/jwks.json',
        methods: ['GET'],
        handler: async (_req, res) => {
          if (!jwksCache || Date.now() - jwksCache.at > 10_000) {
            jwksCache = { body: await publishedKeys(jwksUrl, keySetUrls, logger), at: Date.now() };
          }
          sendJson(res, 200, jwksCache.body, { 'cache-control': 'public, max-age=60' });
        },
      },
      {
        path: '/healthz',
        methods: ['GET'],
        handler: (_req, res) => sendJson(res, 200, { status: 'ok', service: 'gateway' }),
      },
      {
        path: '/readyz',
        methods: ['GET'],
        handler: async (_req, res) => {
          const subgraphChecks = Object.entries(options.subgraphUrls).map(([name, url]) => ({
            name: `subgraph:${name}`,
            check: async () => {
              const response = await fetch(url.replace(/\/graphql$/, '/readyz'), {
                signal: AbortSignal.timeout(2_000),
              });
              if (!response.ok) throw new Error(`readyz answered ${response.status}`);
            },
          }));
          const result = await runReadiness([...subgraphChecks, ...runtime.storeChecks]);
          sendJson(res, result.ready ? 200 : 503, { service: 'gateway', ...result });
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
      ...dashboardRoutes(),
      ...(objects
        ? [
            {
              path: '/objects/*',
              name: '/objects',
              handler: async (req: IncomingMessage, res: ServerResponse) => {
                if (!(await objects(req, res)))
                  throw new HttpError(404, 'NOT_FOUND', 'No such object route');
              },
            },
          ]
        : []),
    ],
  });
  const subscriptions = serveGatewaySubscriptions({
    server,
    config,
    logger,
    metrics,
    apollo,
    apiSchema: () => {
      if (!apiSchema) throw new Error('the gateway has no schema yet');
      return apiSchema;
    },
    authenticate: authenticateCredential,
    onApiKeyRevoked: (listener) => apiKeys.onRevoked(listener),
  });
  const bound = await listen(server, options.host, options.port);
  logger.info({ url: `${bound.url}/graphql` }, 'gateway listening');
  return {
    name: 'gateway',
    url: `${bound.url}/graphql`,
    port: bound.port,
    server,
    stop: async () => {
      await subscriptions.close();
      await closeServer(server);
      await apollo.stop();
      await apiKeys.stop();
      supergraphFile?.close();
      await tracing.shutdown();
      for (const layer of layers) await layer.stop?.();
    },
  };
}

/**
 * Layers' Apollo constructor options, refusing two layers that set the same one: a silent
 * overwrite would disable one of them (for example two persisted-query caches).
 */
function mergeServerOptions(layers: GatewayLayer[]): NonNullable<GatewayLayer['serverOptions']> {
  const merged: NonNullable<GatewayLayer['serverOptions']> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.serverOptions ?? {})) {
      if (key in merged)
        throw new Error(`gateway layers conflict: two layers set the Apollo option "${key}"`);
      Object.assign(merged, { [key]: value });
    }
  }
  return merged;
}

/** Puts the request id on every error so a user can quote it and an operator can grep the logs. */
function requestIdInErrors(): ApolloServerPlugin<GatewayContext> {
  return {
    requestDidStart() {
      return Promise.resolve({
        willSendResponse({ response, contextValue }) {
          if (response.body.kind === 'single') {
            for (const error of response.body.singleResult.errors ?? []) {
              (error.extensions as Record<string, unknown>).requestId = contextValue.requestId;
            }
          }
          return Promise.resolve();
        },
      });
    },
  };
}

/**
 * The gateway's key set: identity's keys (required: without them no token verifies) plus every
 * other signing subgraph's, each key once. A signing subgraph that does not answer leaves its keys
 * out for this round (logged) rather than taking the access-token keys down with it.
 */
async function publishedKeys(
  identityJwksUrl: string,
  otherUrls: string[],
  logger: Logger,
): Promise<{ keys: { kid?: string }[] }> {
  const fetchSet = async (url: string) => {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    const body = (await response.json()) as { keys?: { kid?: string }[] };
    return body.keys ?? [];
  };
  let identityKeys: { kid?: string }[];
  try {
    identityKeys = await fetchSet(identityJwksUrl);
  } catch {
    throw new HttpError(503, 'UNAVAILABLE', 'Key set is unavailable right now');
  }
  const others = await Promise.all(
    otherUrls.map((url) =>
      fetchSet(url).catch((err: unknown) => {
        logger.warn({ err, url }, 'a signing subgraph did not publish its keys');
        return [];
      }),
    ),
  );
  const seen = new Set<string>();
  const keys = [...identityKeys, ...others.flat()].filter((key) => {
    if (!key.kid || seen.has(key.kid)) return false;
    seen.add(key.kid);
    return true;
  });
  return { keys };
}
