import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { gql } from 'graphql-tag';
import { openDomainService } from '../../platform/domain-service.ts';
import { createMetrics } from '../../platform/metrics.ts';
import type { Runtime } from '../../platform/runtime.ts';
import { startSubgraphServer, type RunningService } from '../../platform/subgraph-server.ts';
import { PrismaClient } from '../../generated/prisma/resources/client.ts';
import type { ResourcesContext } from './context.ts';
import { AllocationService } from './domain/allocations.ts';
import type { ResourcesDeps } from './domain/deps.ts';
import { gpuAgentFleet } from './domain/fleet.ts';
import { startMetering } from './domain/metering.ts';
import { QuotaService } from './domain/quotas.ts';
import { UsageMeter } from './domain/usage.ts';
import { resourcesPermissions } from './permissions.ts';
import { quotaRoutes } from './quota-routes.ts';
import { resourcesResolvers } from './resolvers.ts';

export const resourcesTypeDefs = gql(
  readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'),
);

export interface ResourcesService extends RunningService {
  deps: ResourcesDeps;
}

/** How often leases and reservations past their time are ended (they stop counting at once). */
const SWEEP_MS = 15_000;
/**
 * A concurrency hold older than this is released even without its end event (the bus may lose
 * one): far longer than an attestation's lease times its attempts.
 */
const STALE_HOLD_MS = 3600 * 1000;
/** Counted usage-event ids are kept this long: a replay older than that would count again. */
const EVENT_ID_RETENTION_MS = 35 * 24 * 3600 * 1000;

/**
 * Starts the resources subgraph: quotas (GraphQL reads, the reserve/commit/release API other
 * subgraphs call), GPU allocations placed over the gpu-agent's live MIG layout, and hourly usage
 * metered from the event bus. A sweeper ends expired leases and reservations.
 */
export async function startResources(
  runtime: Runtime,
  listen: { host: string; port: number },
  peers: { identityUrl: string; gpuAgentUrl: string },
): Promise<ResourcesService> {
  const { config, logger, database, prisma, verifyAccessToken, apiKeys } = await openDomainService(
    runtime,
    { domain: 'resources', PrismaClient, identityUrl: peers.identityUrl },
  );
  const quotas = new QuotaService(prisma, config);
  const usage = new UsageMeter(prisma);
  const allocations = new AllocationService({
    prisma,
    quotas,
    usage,
    events: runtime.events,
    fleet: gpuAgentFleet(peers.gpuAgentUrl),
    config,
    logger,
  });
  const deps: ResourcesDeps = { prisma, config, logger, quotas, allocations, usage };
  const metrics = createMetrics('resources');
  await apiKeys.start();
  const unsubscribe = await startMetering(runtime.events, usage, quotas, logger);

  const service = await startSubgraphServer<ResourcesContext>(
    {
      name: 'resources',
      typeDefs: resourcesTypeDefs,
      resolvers: resourcesResolvers as GraphQLResolverMap<ResourcesContext>,
      permissions: resourcesPermissions(resourcesTypeDefs),
      buildContext: (base) => ({ ...base, deps }),
      routes: quotaRoutes(quotas, verifyAccessToken),
      readiness: [database.readiness, ...runtime.storeChecks],
    },
    { config, logger, metrics, verifyAccessToken, ...listen },
  );

  let sweeping = false;
  const sweep = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void Promise.all([
      allocations.expireLeases(),
      quotas.expireReservations(),
      quotas.releaseStaleHolds('CONCURRENT_ATTESTATIONS', STALE_HOLD_MS),
      usage.pruneEventIds(new Date(Date.now() - EVENT_ID_RETENTION_MS)),
    ])
      .then(([leases, reservations, staleHolds]) => {
        if (leases + reservations + staleHolds > 0) {
          logger.info({ leases, reservations, staleHolds }, 'ended expired leases and claims');
        }
      })
      .catch((err: unknown) => logger.warn({ err }, 'resource sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  }, SWEEP_MS);
  sweep.unref();

  return {
    ...service,
    deps,
    stop: async () => {
      clearInterval(sweep);
      for (const stop of unsubscribe) await stop();
      await service.stop();
      await apiKeys.stop();
      await database.close();
    },
  };
}
