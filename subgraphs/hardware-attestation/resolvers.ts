import type { Principal } from '../../platform/auth/principal.ts';
import { badInput, unauthenticated } from '../../platform/errors.ts';
import { DateTimeScalar, JSONScalar } from '../../platform/graphql/scalars.ts';
import type { Resolvers } from '../../generated/graphql/hardware-attestation/resolvers-types.ts';
import type { HardwareAttestationContext } from './context.ts';
import { issueChallenge } from './domain/challenges.ts';
import { verifyEar } from './domain/ear.ts';
import type { ClaimResult, TrustClaim } from './domain/policy.ts';
import {
  createPolicy,
  createReferenceValue,
  deletePolicy,
  deleteReferenceValue,
  deprecateReferenceValue,
  getPolicy,
  getReferenceValue,
  isUuid,
  listPolicies,
  listReferenceValues,
  platformReferenceViews,
  setPolicyDeprecated,
} from './domain/lifecycle.ts';
import { reportKey } from './domain/pipeline.ts';
import { attestationStatusStream } from './domain/status-stream.ts';
import { submitAttestation, type JobInput } from './domain/submit.ts';
import { decodeTimeCursor, timeConnection } from '../../platform/graphql/cursor.ts';

/** Every read is scoped to the token's organization here, in the subgraph, not only at the gateway. */
function caller(context: HardwareAttestationContext): Principal {
  if (!context.principal) throw unauthenticated('Sign in to see attestations');
  return context.principal;
}

const maxPage = 100;

const trustFields: Record<string, TrustClaim> = {
  instanceIdentity: 'instance-identity',
  configuration: 'configuration',
  executables: 'executables',
  fileSystem: 'file-system',
  hardware: 'hardware',
  runtimeOpaque: 'runtime-opaque',
  storageOpaque: 'storage-opaque',
  sourcedData: 'sourced-data',
};

const tiers = { affirming: 2, warning: 32, contraindicated: 96, none: 0 } as const;

export const hardwareAttestationResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query: {
    hardwareAttestation: (_root, { id }, context) =>
      isUuid(id)
        ? context.deps.prisma.attestation.findFirst({
            where: { id, organizationId: caller(context).organizationId },
          })
        : null,
    hardwareAttestations: async (_root, { first, after, status, gpuUuid }, context) => {
      const take = Math.min(Math.max(first ?? 20, 1), maxPage);
      const cursor = decodeTimeCursor(after);
      const rows = await context.deps.prisma.attestation.findMany({
        where: {
          organizationId: caller(context).organizationId,
          ...(status ? { status } : {}),
          ...(gpuUuid ? { gpuUuid } : {}),
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
    verifyAttestationResult: async (_root, { token }, context) => {
      if (token.length > 64 * 1024) throw badInput('token is over 64 KiB', { field: 'token' });
      const result = await verifyEar(token, context.deps.resultKeys.verificationKeys);
      const claims = result.claims;
      const iat = typeof claims?.iat === 'number' ? new Date(claims.iat * 1000) : null;
      const attestationId = claims?.['x-lotabots-attestation-id'];
      return {
        valid: result.valid,
        reason: result.reason,
        kid: result.kid,
        status: result.status ? (result.status.toUpperCase() as never) : null,
        attestationId: typeof attestationId === 'string' ? attestationId : null,
        issuedAt: iat,
        claims: result.valid ? result.claims : null,
      };
    },
    referenceValues: (_root, { name, includeInactive }, context) =>
      listReferenceValues(context.deps.prisma, caller(context).organizationId, {
        name,
        includeInactive,
      }),
    referenceValue: (_root, { id }, context) =>
      getReferenceValue(context.deps.prisma, caller(context).organizationId, id),
    platformReferenceValues: () => platformReferenceViews,
    appraisalPolicies: (_root, { includeInactive }, context) =>
      listPolicies(context.deps.prisma, caller(context).organizationId, includeInactive ?? false),
    appraisalPolicy: (_root, { id }, context) =>
      getPolicy(context.deps.prisma, caller(context).organizationId, id),
  },
  Mutation: {
    requestAttestationChallenge: (_root, { gpuUuid }, context) =>
      issueChallenge(context.deps, caller(context), context.authorization, gpuUuid),
    submitHardwareAttestation: (_root, { input }, context) =>
      submitAttestation(context.deps, caller(context), context.authorization, input),
    createReferenceValue: (_root, { input }, context) =>
      createReferenceValue(context.deps.prisma, caller(context), input),
    deprecateReferenceValue: (_root, { id }, context) =>
      deprecateReferenceValue(context.deps.prisma, caller(context), id),
    deleteReferenceValue: (_root, { id }, context) =>
      deleteReferenceValue(context.deps.prisma, caller(context), id),
    createAppraisalPolicy: (_root, { input }, context) =>
      createPolicy(context.deps.prisma, caller(context), input.document),
    deprecateAppraisalPolicy: (_root, { id }, context) =>
      setPolicyDeprecated(context.deps.prisma, caller(context), id),
    deleteAppraisalPolicy: (_root, { id }, context) =>
      deletePolicy(context.deps.prisma, caller(context), id),
  },
  Subscription: {
    hardwareAttestationUpdated: {
      // No `resolve`: the stream yields `{ hardwareAttestationUpdated }` and graphql-shield wraps
      // `subscribe`, so the scope check runs when the subscription starts.
      subscribe: (_root, { id }, context) =>
        attestationStatusStream(
          context.deps.events,
          context.deps.prisma,
          caller(context).organizationId,
          id ?? null,
          { limit: context.deps.config.SUBSCRIPTION_QUEUE_LIMIT },
        ),
    },
  },
  HardwareAttestation: {
    __resolveReference: (reference, context) =>
      context.principal && reference.id && isUuid(reference.id)
        ? context.deps.prisma.attestation.findFirst({
            where: { id: reference.id, organizationId: context.principal.organizationId },
          })
        : null,
    gpu: (record) => ({ uuid: record.gpuUuid }),
    claims: (record) =>
      (record.claims as unknown as ClaimResult[]).map((claim) => ({
        ...claim,
        status: claim.status.toUpperCase() as never,
      })),
    trustVector: (record) => {
      const claims = record.claims as unknown as ClaimResult[];
      if (record.status === 'PENDING' || record.status === 'RUNNING' || claims.length === 0)
        return null;
      const vector = Object.fromEntries(
        Object.entries(trustFields).map(([field, trustClaim]) => {
          const worst = claims
            .filter((c) => c.trustClaim === trustClaim)
            .reduce((value, c) => Math.max(value, tiers[c.status]), 0);
          return [field, worst];
        }),
      );
      return vector as never;
    },
    policy: (record) =>
      record.policyId ? `${record.policyId}@${record.policyVersion ?? '?'}` : null,
    referenceValue: (record, _args, context) =>
      record.referenceValueId
        ? getReferenceValue(context.deps.prisma, record.organizationId, record.referenceValueId)
        : null,
    reportUrl: async (record, _args, context) => {
      if (!record.reportKey) return null;
      const { url } = await context.deps.objects.presignDownload(reportKey(record), {
        filename: `attestation-${record.id}.json`,
      });
      return url;
    },
    evidence: async (record, _args, context) => {
      const job = await context.deps.prisma.attestationJob.findUnique({
        where: { attestationId: record.id },
      });
      const input = job?.input as unknown as JobInput | undefined;
      return input ? (input.evidence ?? input.rejectedEvidence) : null;
    },
    auditTrail: (record, _args, context) =>
      context.deps.prisma.auditEntry.findMany({
        where: { attestationId: record.id, organizationId: caller(context).organizationId },
        orderBy: { id: 'asc' },
        take: 200,
      }),
  },
  AuditEntry: {
    detail: (entry) => entry.detail,
  },
  Gpu: {
    __resolveReference: (reference) => ({ uuid: reference.uuid ?? '' }),
    attestations: (gpu, { first }, context) =>
      context.deps.prisma.attestation.findMany({
        where: { organizationId: caller(context).organizationId, gpuUuid: gpu.uuid },
        orderBy: [{ submittedAt: 'desc' }, { id: 'desc' }],
        take: Math.min(Math.max(first ?? 10, 1), maxPage),
      }),
    latestAttestation: (gpu, _args, context) =>
      context.deps.prisma.attestation.findFirst({
        where: {
          organizationId: caller(context).organizationId,
          gpuUuid: gpu.uuid,
          status: { in: ['VERIFIED', 'FAILED', 'ERROR'] },
        },
        orderBy: [{ completedAt: 'desc' }, { id: 'desc' }],
      }),
  },
};
