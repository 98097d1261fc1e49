import type { Principal } from '../../platform/auth/principal.ts';
import { badInput, unauthenticated } from '../../platform/errors.ts';
import { decodeTimeCursor, timeConnection } from '../../platform/graphql/cursor.ts';
import { DateTimeScalar, JSONScalar } from '../../platform/graphql/scalars.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Resolvers } from '../../generated/graphql/model-attestation/resolvers-types.ts';
import type { ModelAttestationContext } from './context.ts';
import type { ModelFileView } from './domain/deps.ts';
import type { Finding } from './domain/scan/findings.ts';

/** Every read and write is scoped to the token's organization here, not only at the gateway. */
function caller(context: ModelAttestationContext): Principal {
  if (!context.principal) throw unauthenticated('Sign in to see models');
  return context.principal;
}

const maxPage = 100;

function page(first: number | null | undefined): number {
  return Math.min(Math.max(first ?? 20, 1), maxPage);
}

function seqCursor(after: string | null | undefined): number | null {
  if (!after) return null;
  const seq = Number(Buffer.from(after, 'base64url').toString('utf8').replace(/^seq:/, ''));
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw badInput('after is not a cursor this query returned', { field: 'after' });
  }
  return seq;
}

export const modelAttestationResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query: {
    models: async (_root, { first, after }, context) => {
      const take = page(first);
      const cursor = decodeTimeCursor(after);
      const rows = await context.deps.prisma.model.findMany({
        where: {
          organizationId: caller(context).organizationId,
          ...(cursor
            ? {
                OR: [
                  { createdAt: { lt: cursor.at } },
                  { createdAt: cursor.at, id: { lt: cursor.id } },
                ],
              }
            : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: take + 1,
      });
      return timeConnection(rows, take, (row) => row.createdAt);
    },
    modelVersion: (_root, { id }, context) => context.deps.models.findVersion(caller(context), id),
    modelAttestation: (_root, { id }, context) =>
      context.deps.attestations.find(caller(context), id),
    modelAttestations: async (_root, { first, after, status }, context) => {
      const take = page(first);
      const cursor = decodeTimeCursor(after);
      const rows = await context.deps.prisma.modelAttestation.findMany({
        where: {
          organizationId: caller(context).organizationId,
          ...(status ? { status } : {}),
          ...(cursor
            ? {
                OR: [
                  { submittedAt: { lt: cursor.at } },
                  { submittedAt: cursor.at, id: { lt: cursor.id } },
                ],
              }
            : {}),
        },
        orderBy: [{ submittedAt: 'desc' }, { id: 'desc' }],
        take: take + 1,
      });
      return timeConnection(rows, take, (row) => row.submittedAt);
    },
    modelSigningKeys: (_root, _args, context) =>
      context.deps.keysAndPolicies.listKeys(caller(context)),
    modelCompliancePolicies: (_root, _args, context) =>
      context.deps.keysAndPolicies.listPolicies(caller(context)),
    modelAuditTrail: async (_root, { first, after }, context) => {
      const take = Math.min(Math.max(first ?? 50, 1), 500);
      const before = seqCursor(after);
      const rows = await context.deps.prisma.auditEntry.findMany({
        where: {
          organizationId: caller(context).organizationId,
          ...(before !== null ? { seq: { lt: before } } : {}),
        },
        orderBy: { seq: 'desc' },
        take: take + 1,
      });
      const edges = rows.slice(0, take);
      const cursorOf = (seq: number) => Buffer.from(`seq:${seq}`).toString('base64url');
      return {
        edges: edges.map((node) => ({ cursor: cursorOf(node.seq), node })),
        pageInfo: {
          hasNextPage: rows.length > take,
          endCursor: edges.length > 0 ? cursorOf(edges.at(-1)!.seq) : null,
        },
      };
    },
    verifyAuditTrail: (_root, _args, context) =>
      context.deps.audit.verify(caller(context).organizationId),
  },
  Mutation: {
    registerModel: (_root, { input }, context) =>
      context.deps.models.register(caller(context), input),
    requestModelUpload: (_root, { input }, context) =>
      context.deps.models.requestUpload(caller(context), input),
    requestModelMultipartUpload: (_root, { input }, context) =>
      context.deps.models.requestMultipartUpload(caller(context), input),
    completeModelUpload: (_root, { input }, context) =>
      context.deps.models.completeUpload(caller(context), input),
    submitModelAttestation: (_root, { input }, context) =>
      context.deps.attestations.submit(caller(context), input),
    registerModelSigningKey: (_root, { input }, context) =>
      context.deps.keysAndPolicies.registerKey(caller(context), input),
    revokeModelSigningKey: (_root, { id }, context) =>
      context.deps.keysAndPolicies.revokeKey(caller(context), id),
    createModelCompliancePolicy: (_root, { input }, context) =>
      context.deps.keysAndPolicies.createPolicy(caller(context), input),
  },
  Subscription: {
    modelAttestationUpdated: {
      // No `resolve`: the stream yields `{ modelAttestationUpdated }` and graphql-shield wraps
      // `subscribe`, so the scope check runs when the subscription starts.
      subscribe: (_root, { id }, context) =>
        context.deps.attestations.stream(context.deps.events, caller(context), id ?? null, {
          limit: context.deps.config.SUBSCRIPTION_QUEUE_LIMIT,
        }),
    },
  },
  Model: {
    __resolveReference: (reference, context) =>
      context.principal && reference.id && isUuid(reference.id)
        ? context.deps.prisma.model.findFirst({
            where: { id: reference.id, organizationId: context.principal.organizationId },
          })
        : null,
    versions: (model, _args, context) =>
      context.deps.prisma.modelVersion.findMany({
        where: { modelId: model.id },
        orderBy: { createdAt: 'desc' },
      }),
  },
  ModelVersion: {
    __resolveReference: (reference, context) =>
      context.principal && reference.id
        ? context.deps.models.findVersion(context.principal, reference.id)
        : null,
    model: (version, _args, context) =>
      context.deps.prisma.model.findUniqueOrThrow({ where: { id: version.modelId } }),
    modelCard: (version) => version.modelCard,
    files: async (version, _args, context) =>
      (await context.deps.models.uploadedFiles(version.id)).map((file): ModelFileView => ({
        path: file.path,
        sizeBytes: Number(file.sizeBytes ?? 0n),
        sha256: '',
      })),
  },
  ModelAttestation: {
    __resolveReference: (reference, context) =>
      context.principal && reference.id
        ? context.deps.attestations.find(context.principal, reference.id)
        : null,
    verdict: (attestation) =>
      attestation.verdict as 'AFFIRMING' | 'WARNING' | 'CONTRAINDICATED' | null,
    modelVersion: (attestation, _args, context) =>
      context.deps.prisma.modelVersion.findUniqueOrThrow({
        where: { id: attestation.modelVersionId },
      }),
    files: (attestation) => attestation.files as unknown as ModelFileView[],
    findings: (attestation) => attestation.findings as unknown as Finding[],
    policy: (attestation) => `${attestation.policyId}@${attestation.policyVersion}`,
    hashedBytes: (attestation) => Number(attestation.hashedBytes),
    totalBytes: (attestation) => Number(attestation.totalBytes),
    manifestDigest: (attestation) =>
      (attestation.manifest as { subjectDigest?: string } | null)?.subjectDigest ?? null,
    statement: (attestation) => attestation.statement,
    auditTrail: (attestation, _args, context) =>
      context.deps.audit.forSubject(
        attestation.organizationId,
        'model-attestation',
        attestation.id,
      ),
  },
  AuditEntry: {
    detail: (entry) => entry.detail,
  },
  ModelAuditEntry: {
    detail: (entry) => entry.detail,
  },
  ModelCompliancePolicy: {
    document: (policy) => policy.document,
  },
};
