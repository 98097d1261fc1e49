import type { Principal } from '../../platform/auth/principal.ts';
import { unauthenticated } from '../../platform/errors.ts';
import { DateTimeScalar } from '../../platform/graphql/scalars.ts';
import type { Resolvers } from '../../generated/graphql/gpu-agent/resolvers-types.ts';
import type { GpuAgentContext } from './context.ts';
import { gpuParent, gpuParentsOf } from './mappers.ts';
import { createMigInstance, destroyMigInstance } from './mig-operations.ts';
import { telemetryStream } from './telemetry.ts';

/** Every read is scoped to the token's organization here, in the subgraph, not only at the gateway. */
function caller(context: GpuAgentContext): Principal {
  if (!context.principal) throw unauthenticated('Sign in to see GPU nodes');
  return context.principal;
}

const maxAuditEntries = 500;

export const gpuAgentResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    gpuNodes: (_root, _args, context) => context.deps.fleet.nodesOf(caller(context).organizationId),
    gpuNode: (_root, { id }, context) =>
      context.deps.fleet.node(caller(context).organizationId, id),
    gpu: (_root, { uuid }, context) => {
      const found = context.deps.fleet.gpu(caller(context).organizationId, uuid);
      return found ? gpuParent(found.node, found.gpu) : null;
    },
    migAuditLog: async (_root, { nodeId, first }, context) => {
      const take = Math.min(Math.max(first ?? 50, 1), maxAuditEntries);
      return context.deps.prisma.migCommand.findMany({
        where: {
          organizationId: caller(context).organizationId,
          ...(nodeId ? { nodeId } : {}),
        },
        orderBy: { requestedAt: 'desc' },
        take,
      });
    },
  },
  Mutation: {
    createMigInstance: (_root, { input }, context) =>
      createMigInstance(context.deps, caller(context), input),
    destroyMigInstance: (_root, { input }, context) =>
      destroyMigInstance(context.deps, caller(context), input),
  },
  Subscription: {
    gpuTelemetry: {
      // No `resolve`: the stream yields `{ gpuTelemetry }` and graphql-shield wraps `subscribe`,
      // so the scope check runs when the subscription starts.
      subscribe: (_root, { nodeId }, context) =>
        telemetryStream(context.deps.fleet, caller(context).organizationId, nodeId ?? null, {
          limit: context.deps.config.SUBSCRIPTION_QUEUE_LIMIT,
        }),
    },
  },
  GpuTelemetry: {
    node: (record) => record,
    sampledAt: (record) => record.lastSeenAt,
    gpus: (record) => gpuParentsOf(record),
  },
  GpuNode: {
    organization: (node) => ({ id: node.organizationId }),
    __resolveReference: (reference, context) =>
      context.principal
        ? context.deps.fleet.node(context.principal.organizationId, reference.id ?? '')
        : null,
    driverVersion: (node) => node.snapshot?.driverVersion ?? null,
    cudaVersion: (node) => node.snapshot?.cudaVersion ?? null,
    online: (node, _args, context) => context.deps.fleet.online(node),
    source: (node) => node.snapshot?.source ?? null,
    gpus: (node) => gpuParentsOf(node),
  },
  Gpu: {
    __resolveReference: (reference, context) => {
      if (!context.principal || !reference.uuid) return null;
      const found = context.deps.fleet.gpu(context.principal.organizationId, reference.uuid);
      return found ? gpuParent(found.node, found.gpu) : null;
    },
    node: (gpu) => gpu.node,
  },
  MigInstance: {
    placementStart: (instance) => instance.placement?.start ?? null,
    placementSize: (instance) => instance.placement?.size ?? null,
  },
  MigOperation: {
    node: (operation, _args, context) => {
      const node = context.deps.fleet.node(operation.organizationId, operation.nodeId);
      if (!node) throw new Error(`node ${operation.nodeId} of an audit entry is unknown`);
      return node;
    },
  },
};
