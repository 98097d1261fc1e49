import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { gql } from 'graphql-tag';
import { createAccessTokenVerifier } from '../../platform/auth/access-token.ts';
import { createDomainDatabase } from '../../platform/db/domain.ts';
import { unauthenticated, DomainError } from '../../platform/errors.ts';
import { readBody, sendJson, type Route } from '../../platform/http/server.ts';
import { createMetrics } from '../../platform/metrics.ts';
import type { Runtime } from '../../platform/runtime.ts';
import { startSubgraphServer, type RunningService } from '../../platform/subgraph-server.ts';
import { PrismaClient } from '../../generated/prisma/identity/client.ts';
import { bearerCredential } from '../../platform/auth/access-token.ts';
import { createLoaders, type IdentityContext } from './context.ts';
import { exchangeApiKey } from './domain/api-keys.ts';
import type { IdentityDeps } from './domain/deps.ts';
import { createPasswordHasher } from './domain/passwords.ts';
import { createKeyRing, type KeyRing } from './domain/signing-keys.ts';
import { LoginThrottle } from './domain/throttle.ts';
import { identityPermissions } from './permissions.ts';
import { identityResolvers } from './resolvers.ts';

export const identityTypeDefs = gql(
  readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'),
);

export interface IdentityService extends RunningService {
  keys: KeyRing;
  deps: IdentityDeps;
}

/**
 * Starts the identity subgraph: migrates its database, loads (or creates) signing keys, and
 * serves GraphQL plus `/.well-known/jwks.json` and `/auth/api-key-token` (the exchange the
 * gateway uses so API keys become short-lived access tokens).
 */
export async function startIdentity(
  runtime: Runtime,
  listen: { host: string; port: number },
): Promise<IdentityService> {
  const { config } = runtime;
  const logger = runtime.logger.child({ service: 'identity' });
  const database = await createDomainDatabase({ config, domain: 'identity', logger, PrismaClient });
  const prisma = database.prisma;
  const keys = createKeyRing(prisma, config, logger);
  await keys.initialize();

  const deps: IdentityDeps = {
    prisma,
    hasher: createPasswordHasher(config.PASSWORD_HASH_LOG2N),
    keys,
    counters: runtime.counters,
    events: runtime.events,
    config,
    logger,
  };
  const throttle = new LoginThrottle(deps);

  const routes: Route[] = [
    {
      path: '/.well-known/jwks.json',
      methods: ['GET'],
      handler: (_req, res) =>
        sendJson(res, 200, keys.jwks(), { 'cache-control': 'public, max-age=60' }),
    },
    {
      path: '/auth/api-key-token',
      methods: ['POST'],
      handler: async (req, res) => {
        await readBody(req, 1024);
        try {
          const credential = bearerCredential(req.headers.authorization);
          if (!credential)
            throw unauthenticated('Send the API key as "Authorization: Bearer lb_…"');
          sendJson(res, 200, await exchangeApiKey(deps, credential), {
            'cache-control': 'no-store',
          });
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          sendJson(res, 401, { error: { code: error.code, message: error.message } });
        }
      },
    },
  ];

  const service = await startSubgraphServer<IdentityContext>(
    {
      name: 'identity',
      typeDefs: identityTypeDefs,
      resolvers: identityResolvers as GraphQLResolverMap<IdentityContext>,
      permissions: identityPermissions(identityTypeDefs),
      buildContext: (base) => ({ ...base, deps, throttle, loaders: createLoaders(deps) }),
      routes,
      readiness: [database.readiness, ...runtime.storeChecks],
    },
    {
      config,
      logger,
      metrics: createMetrics('identity'),
      verifyAccessToken: createAccessTokenVerifier({
        keys: keys.verificationKeys,
        issuer: config.issuer,
        audience: config.TOKEN_AUDIENCE,
      }),
      ...listen,
    },
  );

  // Replicas pick up keys rotated elsewhere; the hourly check rotates when the active key is old.
  const reload = setInterval(
    () => void keys.reload().catch((err: unknown) => logger.warn({ err }, 'key reload failed')),
    60_000,
  );
  const rotate = setInterval(
    () =>
      void keys.initialize().catch((err: unknown) => logger.error({ err }, 'key rotation failed')),
    3_600_000,
  );
  reload.unref();
  rotate.unref();

  return {
    ...service,
    keys,
    deps,
    stop: async () => {
      clearInterval(reload);
      clearInterval(rotate);
      await service.stop();
      await database.close();
    },
  };
}
