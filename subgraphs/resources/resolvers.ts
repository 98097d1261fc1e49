import type { Principal } from '../../platform/auth/principal.ts';
import { unauthenticated } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { decodeTimeCursor, timeConnection } from '../../platform/graphql/cursor.ts';
import { DateTimeScalar } from '../../platform/graphql/scalars.ts';
import type { Resolvers } from '../../generated/graphql/resources/resolvers-types.ts';
import type { ResourcesContext } from './context.ts';
import { usageCsv } from './domain/usage.ts';

/** Every read and write is scoped to the token's organization here, not only at the gateway. */
function caller(context: ResourcesContext): Principal {
  if (!context.principal) throw unauthenticated('Sign in to see resources');
  return context.principal;
}

const maxPage = 100;

export const resourcesResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    allocation: (_root, { id }, context) =>
      isUuid(id)
        ? context.deps.prisma.allocation.findFirst({
            where: { id, organizationId: caller(context).organizationId },
          })
        : null,
    allocations: async (_root, { first, after, state }, context) => {
      const take = Math.min(Math.max(first ?? 20, 1), maxPage);
      const cursor = decodeTimeCursor(after);
      const rows = await context.deps.prisma.allocation.findMany({
        where: {
          organizationId: caller(context).organizationId,
          ...(state ? { state } : {}),
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
  },
  Mutation: {
    allocateGpu: (_root, { input }, context) =>
      context.deps.allocations.allocate(caller(context), context.authorization ?? '', input),
    releaseAllocation: (_root, { id }, context) =>
      context.deps.allocations.release(caller(context), id),
  },
  Allocation: {
    __resolveReference: (reference, context) =>
      context.principal && reference.id && isUuid(reference.id)
        ? context.deps.prisma.allocation.findFirst({
            where: { id: reference.id, organizationId: context.principal.organizationId },
          })
        : null,
    node: (allocation) => ({ id: allocation.nodeId }),
    gpu: (allocation) => ({ uuid: allocation.gpuUuid }),
  },
  Organization: {
    // Another organization's id resolves to nothing: quotas and usage are the caller's own.
    __resolveReference: (reference, context) =>
      context.principal && reference.id === context.principal.organizationId
        ? { id: reference.id }
        : null,
    // Only the caller's own organization resolves (above), so its quotas and usage are the token's.
    quota: async (_organization, _args, context) => {
      const principal = caller(context);
      return { limits: await context.deps.quotas.limits(principal.organizationId, principal.tier) };
    },
    usage: (_organization, { from, to, metric }, context) =>
      context.deps.usage.series(caller(context).organizationId, { from, to, metric }),
    usageCsv: async (_organization, { from, to }, context) =>
      usageCsv(await context.deps.usage.series(caller(context).organizationId, { from, to })),
  },
};
