import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { gql } from 'graphql-tag';
import { openDomainService } from '../../platform/domain-service.ts';
import {
  hardwareAttestationStatusTopic,
  modelAttestationStatusTopic,
} from '../../platform/events/topics.ts';
import { queryPeer } from '../../platform/graphql/peer-query.ts';
import { createMetrics } from '../../platform/metrics.ts';
import type { Runtime } from '../../platform/runtime.ts';
import { startSubgraphServer, type RunningService } from '../../platform/subgraph-server.ts';
import { PrismaClient } from '../../generated/prisma/documents/client.ts';
import type { DocumentsContext } from './context.ts';
import {
  finishedFromEvent,
  finishedModelFromEvent,
  type FinishedAttestation,
} from './domain/attestation-source.ts';
import type { DocumentsDeps } from './domain/deps.ts';
import { DocumentService } from './domain/documents.ts';
import { ReportService } from './domain/reports.ts';
import { UploadService } from './domain/uploads.ts';
import { documentsPermissions } from './permissions.ts';
import { documentsResolvers } from './resolvers.ts';

export const documentsTypeDefs = gql(
  readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'),
);

export interface DocumentsService extends RunningService {
  deps: DocumentsDeps;
}

/** How often deleted documents past their window and abandoned uploads are removed. */
const SWEEP_MS = 60_000;
/** A report job's lease: rendering takes well under a second, so a minute means the worker died. */
const REPORT_LEASE_MS = 60_000;

/**
 * Starts the documents subgraph: versioned documents with per-document grants, uploads and
 * downloads through signed URLs, soft delete with a restore window and legal holds, and the
 * report jobs that turn every finished hardware attestation (heard on the event bus) into a PDF
 * and JSON report document.
 */
export async function startDocuments(
  runtime: Runtime,
  listen: { host: string; port: number },
  peers: { identityUrl: string; hardwareAttestationUrl: string; modelAttestationUrl: string },
): Promise<DocumentsService> {
  const { config, logger, database, prisma, verifyAccessToken, apiKeys } = await openDomainService(
    runtime,
    { domain: 'documents', PrismaClient, identityUrl: peers.identityUrl },
  );
  const metrics = createMetrics('documents');
  const documents = new DocumentService(prisma, runtime.objects, {
    restoreDays: config.DOCUMENT_RESTORE_DAYS,
    logger,
  });
  const uploads = new UploadService(prisma, runtime.objects, documents, {
    maxBytes: config.DOCUMENT_MAX_BYTES,
    ttlSeconds: config.SIGNED_URL_TTL_SECONDS,
  });
  const reports = new ReportService(
    {
      prisma,
      objects: runtime.objects,
      documents,
      logger,
      publicUrl: config.publicUrl,
      hardwareAttestationUrl: peers.hardwareAttestationUrl,
      modelAttestationUrl: peers.modelAttestationUrl,
    },
    metrics.registry,
    {
      concurrency: config.REPORT_WORKERS,
      maxAttempts: config.REPORT_MAX_ATTEMPTS,
      leaseMs: REPORT_LEASE_MS,
    },
  );
  const deps: DocumentsDeps = {
    prisma,
    config,
    logger,
    documents,
    uploads,
    reports,
    isMember: async (authorization, userId) => {
      const data = await queryPeer<{ organization: { members: { user: { id: string } }[] } }>(
        peers.identityUrl,
        authorization,
        'query Members { organization { members { user { id } } } }',
        {},
        { peer: 'identity subgraph' },
      );
      return data.organization.members.some((member) => member.user.id === userId);
    },
  };
  await apiKeys.start();
  const queueReport = async (finished: FinishedAttestation | null) => {
    if (!finished) return;
    await reports
      .enqueueCompleted(finished)
      .catch((err: unknown) =>
        logger.error({ err, attestationId: finished.id }, 'could not queue a report job'),
      );
  };
  const unsubscribe = await Promise.all([
    runtime.events.subscribe(hardwareAttestationStatusTopic, (payload) =>
      queueReport(finishedFromEvent(payload)),
    ),
    runtime.events.subscribe(modelAttestationStatusTopic, (payload) =>
      queueReport(finishedModelFromEvent(payload)),
    ),
  ]);

  const service = await startSubgraphServer<DocumentsContext>(
    {
      name: 'documents',
      typeDefs: documentsTypeDefs,
      resolvers: documentsResolvers as GraphQLResolverMap<DocumentsContext>,
      permissions: documentsPermissions(documentsTypeDefs),
      buildContext: (base) => ({ ...base, deps }),
      readiness: [database.readiness, ...runtime.storeChecks],
    },
    { config, logger, metrics, verifyAccessToken, ...listen },
  );
  reports.start();

  let sweeping = false;
  const sweep = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void Promise.all([documents.purgeExpired(), uploads.removeExpired()])
      .catch((err: unknown) => logger.warn({ err }, 'document sweep failed'))
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
      await reports.stop();
      await service.stop();
      await apiKeys.stop();
      await database.close();
    },
  };
}
