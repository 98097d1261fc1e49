import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { gql } from 'graphql-tag';
import {
  createResultKeyRing,
  maintainResultKeys,
  resultKeysRoute,
} from '../../platform/auth/result-keys.ts';
import { openDomainService } from '../../platform/domain-service.ts';
import { createMetrics } from '../../platform/metrics.ts';
import type { Runtime } from '../../platform/runtime.ts';
import { startSubgraphServer, type RunningService } from '../../platform/subgraph-server.ts';
import { PrismaClient } from '../../generated/prisma/model-attestation/client.ts';
import type { ModelAttestationContext } from './context.ts';
import { ModelAttestations } from './domain/attestations.ts';
import { AuditChain } from './domain/audit-chain.ts';
import type { ModelAttestationDeps } from './domain/deps.ts';
import { KeysAndPolicies } from './domain/keys-and-policies.ts';
import { ModelService } from './domain/models.ts';
import { ModelAttestationPipeline } from './domain/pipeline.ts';
import { modelAttestationPermissions } from './permissions.ts';
import { modelAttestationResolvers } from './resolvers.ts';

export const modelAttestationTypeDefs = gql(
  readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'),
);

export interface ModelAttestationService extends RunningService {
  deps: ModelAttestationDeps;
}

/** A job's lease: long enough to hash a few GB between progress updates. */
const LEASE_MS = 10 * 60_000;

/**
 * Starts the model-attestation subgraph: models and their files (uploaded by signed URL, single
 * or multipart), organization signing keys and compliance policies, the attestation pipeline
 * (OMS manifest, signature, scans, policy, DSSE-signed statement), and the hash-chained audit
 * trail with periodic signed checkpoints in the object store.
 */
export async function startModelAttestation(
  runtime: Runtime,
  listen: { host: string; port: number },
  peers: { identityUrl: string },
): Promise<ModelAttestationService> {
  const { config, logger, database, prisma, verifyAccessToken, apiKeys } = await openDomainService(
    runtime,
    { domain: 'model-attestation', PrismaClient, identityUrl: peers.identityUrl },
  );
  const metrics = createMetrics('model_attestation');
  const resultKeys = createResultKeyRing(prisma, config, logger, 'model-attestation-keys/v1');
  const audit = new AuditChain(prisma, { keys: resultKeys, objects: runtime.objects, logger });
  const models = new ModelService(prisma, runtime.objects, audit, {
    ttlSeconds: config.SIGNED_URL_TTL_SECONDS,
  });
  const keysAndPolicies = new KeysAndPolicies(prisma, audit);
  const pipeline = new ModelAttestationPipeline(
    {
      prisma,
      objects: runtime.objects,
      events: runtime.events,
      audit,
      keysAndPolicies,
      resultKeys,
      logger,
    },
    metrics.registry,
    {
      concurrency: config.MODEL_ATTESTATION_WORKERS,
      leaseMs: LEASE_MS,
      maxAttempts: config.MODEL_ATTESTATION_MAX_ATTEMPTS,
      shardSize: config.MODEL_SHARD_BYTES,
    },
  );
  const attestations = new ModelAttestations(prisma, audit, keysAndPolicies, () => pipeline);
  const deps: ModelAttestationDeps = {
    prisma,
    config,
    logger,
    events: runtime.events,
    objects: runtime.objects,
    audit,
    models,
    keysAndPolicies,
    attestations,
    pipeline,
    resultKeys,
  };
  try {
    await Promise.all([resultKeys.initialize(), apiKeys.start()]);
  } catch (error) {
    await database.close();
    throw error;
  }
  const service = await startSubgraphServer<ModelAttestationContext>(
    {
      name: 'model-attestation',
      typeDefs: modelAttestationTypeDefs,
      resolvers: modelAttestationResolvers as GraphQLResolverMap<ModelAttestationContext>,
      permissions: modelAttestationPermissions(modelAttestationTypeDefs),
      buildContext: (base) => ({ ...base, deps }),
      routes: [resultKeysRoute(resultKeys)],
      readiness: [database.readiness, ...runtime.storeChecks],
    },
    { config, logger, metrics, verifyAccessToken, ...listen },
  );
  pipeline.start();

  const checkpoints = setInterval(
    () =>
      void audit
        .checkpointAll()
        .catch((err: unknown) => logger.warn({ err }, 'audit checkpoints failed')),
    config.AUDIT_CHECKPOINT_SECONDS * 1000,
  );
  checkpoints.unref();
  const timers = [...maintainResultKeys(resultKeys, logger), checkpoints];

  return {
    ...service,
    deps,
    stop: async () => {
      for (const timer of timers) clearInterval(timer);
      await pipeline.stop();
      await service.stop();
      await apiKeys.stop();
      await database.close();
    },
  };
}
