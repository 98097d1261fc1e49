import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { gql } from 'graphql-tag';
import { openDomainService } from '../../platform/domain-service.ts';
import type { Route } from '../../platform/http/server.ts';
import { createMetrics } from '../../platform/metrics.ts';
import { createQuotaClient } from '../../platform/quota/client.ts';
import type { Runtime } from '../../platform/runtime.ts';
import { startSubgraphServer, type RunningService } from '../../platform/subgraph-server.ts';
import { PrismaClient } from '../../generated/prisma/hardware-attestation/client.ts';
import type { HardwareAttestationContext } from './context.ts';
import type { HardwareAttestationDeps } from './domain/deps.ts';
import { createGpuAgentClient } from './domain/gpu-agent-client.ts';
import { GpuStateMonitor } from './domain/gpu-monitor.ts';
import { nrasVerifierFromConfig } from './domain/nras.ts';
import { Outbox } from './domain/outbox.ts';
import { AttestationPipeline, pipelineMetrics } from './domain/pipeline.ts';
import {
  createResultKeyRing,
  maintainResultKeys,
  resultKeysRoute,
} from '../../platform/auth/result-keys.ts';
import { hardwareAttestationPermissions } from './permissions.ts';
import { hardwareAttestationResolvers } from './resolvers.ts';

export const hardwareAttestationTypeDefs = gql(
  readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'),
);

export interface HardwareAttestationService extends RunningService {
  deps: HardwareAttestationDeps;
  pipeline: AttestationPipeline;
  monitor: GpuStateMonitor;
}

/** Where the service finds identity (keys, API-key exchange) and the gpu-agent (GPU state). */
export interface HardwareAttestationPeers {
  identityUrl: string;
  gpuAgentUrl: string;
  /** Where submissions reserve quota; omitted, attestations are not metered against quotas. */
  resourcesUrl?: string;
}

/**
 * Starts the hardware-attestation subgraph: the GraphQL API, the workers that appraise submitted
 * attestations, the outbox that publishes their status changes, the drift and re-attestation
 * monitor, and `/.well-known/jwks.json` with the keys that sign attestation results.
 */
export async function startHardwareAttestation(
  runtime: Runtime,
  listen: { host: string; port: number },
  peers: HardwareAttestationPeers,
): Promise<HardwareAttestationService> {
  const { config, logger, database, prisma, verifyAccessToken, apiKeys } = await openDomainService(
    runtime,
    { domain: 'hardware-attestation', PrismaClient, identityUrl: peers.identityUrl },
  );
  const resultKeys = createResultKeyRing(prisma, config, logger, 'attestation-result-keys/v1');
  const metrics = createMetrics('hardware_attestation');
  const outbox = new Outbox(prisma, runtime.events, logger);
  let pipeline: AttestationPipeline | null = null;
  let monitor: GpuStateMonitor | null = null;
  const deps: HardwareAttestationDeps = {
    prisma,
    config,
    logger,
    events: runtime.events,
    objects: runtime.objects,
    resultKeys,
    gpus: createGpuAgentClient(peers.gpuAgentUrl),
    quotas: createQuotaClient(peers.resourcesUrl ?? null, logger),
    nras: nrasVerifierFromConfig({
      jwks: config.NRAS_JWKS,
      rootPem: config.NRAS_ROOT_CERT ?? null,
      issuer: config.NRAS_ISSUER,
    }),
    outbox,
    wakeWorkers: () => pipeline?.wake(),
    observedGpu: (organizationId, gpuUuid) => monitor?.observedGpu(organizationId, gpuUuid) ?? null,
  };
  pipeline = new AttestationPipeline(deps, pipelineMetrics(metrics.registry), {
    concurrency: config.ATTESTATION_WORKERS,
    leaseMs: config.ATTESTATION_LEASE_SECONDS * 1000,
    maxAttempts: config.ATTESTATION_MAX_ATTEMPTS,
  });
  monitor = new GpuStateMonitor(deps);
  try {
    await Promise.all([resultKeys.initialize(), apiKeys.start(), monitor.start()]);
  } catch (error) {
    await monitor.stop();
    await database.close();
    throw error;
  }

  const routes: Route[] = [resultKeysRoute(resultKeys)];
  const service = await startSubgraphServer<HardwareAttestationContext>(
    {
      name: 'hardware-attestation',
      typeDefs: hardwareAttestationTypeDefs,
      resolvers: hardwareAttestationResolvers as GraphQLResolverMap<HardwareAttestationContext>,
      permissions: hardwareAttestationPermissions(hardwareAttestationTypeDefs),
      buildContext: (base) => ({ ...base, deps }),
      routes,
      readiness: [database.readiness, ...runtime.storeChecks],
    },
    { config, logger, metrics, verifyAccessToken, ...listen },
  );
  outbox.start();
  pipeline.start();

  const keyTimers = maintainResultKeys(resultKeys, logger);

  const activePipeline = pipeline;
  const activeMonitor = monitor;
  return {
    ...service,
    deps,
    pipeline: activePipeline,
    monitor: activeMonitor,
    stop: async () => {
      for (const timer of keyTimers) clearInterval(timer);
      await activeMonitor.stop();
      await activePipeline.stop();
      await service.stop();
      await outbox.stop();
      await apiKeys.stop();
      await database.close();
    },
  };
}
