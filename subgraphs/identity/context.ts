import DataLoader from 'dataloader';
import type { BaseContext } from '../../platform/subgraph-server.ts';
import type { Organization, User } from '../../generated/prisma/identity/client.ts';
import type { IdentityDeps } from './domain/deps.ts';
import type { LoginThrottle } from './domain/throttle.ts';

export interface IdentityContext extends BaseContext {
  deps: IdentityDeps;
  throttle: LoginThrottle;
  loaders: {
    user: DataLoader<string, User | null>;
    organization: DataLoader<string, Organization | null>;
  };
}

/** Per-request loaders: one query for all users (or organizations) a response mentions. */
export function createLoaders(deps: IdentityDeps): IdentityContext['loaders'] {
  return {
    user: new DataLoader(async (ids) => {
      const rows = await deps.prisma.user.findMany({ where: { id: { in: [...ids] } } });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    organization: new DataLoader(async (ids) => {
      const rows = await deps.prisma.organization.findMany({ where: { id: { in: [...ids] } } });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
