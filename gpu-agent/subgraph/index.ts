import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { gql } from 'graphql-tag';
import { openDomainService } from '../../platform/domain-service.ts';
import { createMetrics } from '../../platform/metrics.ts';
import type { Runtime } from '../../platform/runtime.ts';
import { startSubgraphServer, type RunningService } from '../../platform/subgraph-server.ts';
import { PrismaClient } from '../../generated/prisma/gpu-agent/client.ts';
import { agentRoutes } from '../fleet/agent-routes.ts';
import { FleetState } from '../fleet/fleet-state.ts';
import { MigCommandQueue } from '../fleet/mig-commands.ts';
import type { GpuAgentContext, GpuAgentDeps } from './context.ts';
import { gpuAgentPermissions } from './permissions.ts';
import { gpuAgentResolvers } from './resolvers.ts';

export const gpuAgentTypeDefs = gql(
  readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'),
);

export interface GpuAgentService extends RunningService {
  deps: GpuAgentDeps;
}

/** Where the gpu-agent finds the identity service (its JWKS and the API-key exchange). */
export interface GpuAgentPeers {
  identityUrl: string;
}

/**
 * Starts the gpu-agent subgraph: the GraphQL API over the fleet (`gpuNodes`, MIG changes) and the
 * HTTP protocol node agents report to (`/agent/v1/…`). It verifies tokens against identity's
 * published keys, like any service other than identity.
 */
export async function startGpuAgent(
  runtime: Runtime,
  listen: { host: string; port: number },
  peers: GpuAgentPeers,
): Promise<GpuAgentService> {
  const { config, logger, database, prisma, verifyAccessToken, apiKeys } = await openDomainService(
    runtime,
    { domain: 'gpu-agent', PrismaClient, identityUrl: peers.identityUrl },
  );
  const fleet = new FleetState(
    prisma,
    runtime.events,
    logger,
    config.GPU_NODE_OFFLINE_AFTER_SECONDS * 1000,
  );
  const commands = new MigCommandQueue(
    prisma,
    runtime.events,
    logger,
    config.GPU_MIG_COMMAND_TIMEOUT_SECONDS * 1000,
  );
  try {
    await Promise.all([fleet.start(), apiKeys.start()]);
  } catch (error) {
    await database.close();
    throw error;
  }
  const deps: GpuAgentDeps = { prisma, fleet, commands, config };

  const service = await startSubgraphServer<GpuAgentContext>(
    {
      name: 'gpu-agent',
      typeDefs: gpuAgentTypeDefs,
      resolvers: gpuAgentResolvers as GraphQLResolverMap<GpuAgentContext>,
      permissions: gpuAgentPermissions(gpuAgentTypeDefs),
      buildContext: (base) => ({ ...base, deps }),
      routes: agentRoutes({
        fleet,
        commands,
        verifyAccessToken,
        apiKeys,
        intervalSeconds: config.GPU_AGENT_INTERVAL_SECONDS,
        maxSnapshotBytes: 4 * 1024 * 1024,
      }),
      readiness: [database.readiness, ...runtime.storeChecks],
    },
    { config, logger, metrics: createMetrics('gpu_agent'), verifyAccessToken, ...listen },
  );
  return {
    ...service,
    deps,
    stop: async () => {
      await service.stop();
      await Promise.allSettled([fleet.stop(), apiKeys.stop()]);
      await database.close();
    },
  };
}
