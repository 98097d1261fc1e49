import type { Principal } from '../../../platform/auth/principal.ts';
import { roleAtLeast, roles, type Role } from '../../../platform/auth/roles.ts';
import type { Prisma } from '../../../generated/prisma/documents/client.ts';

export type Access = 'READ' | 'WRITE';

/** What the access rules look at on a document. */
export interface GuardedDocument {
  visibility: 'ORGANIZATION' | 'RESTRICTED';
  createdBy: string;
  grants: { userId: string | null; role: string | null; access: Access }[];
}

/** How a caller is named in `createdBy` and `grantedBy`: `user:<id>` or `apikey:<id>`. */
export function actorOf(principal: Principal): string {
  return principal.apiKeyId
    ? `apikey:${principal.apiKeyId}`
    : `user:${principal.userId ?? principal.subject}`;
}

/** The roles a grant to `role` reaches when the caller holds `held`: grants are "at least". */
function rolesAtMost(held: Role): Role[] {
  return roles.filter((role) => roleAtLeast(held, role));
}

/**
 * What the caller may do with a document of its own organization (the caller's organization is
 * checked before this, in every query): ADMIN and above and the creator change anything; a grant
 * gives what it says; an ORGANIZATION document is readable by every member and changeable by
 * OPERATOR and above; a RESTRICTED one by nobody else. Null means the caller may not even know it
 * exists.
 */
export function accessTo(principal: Principal, document: GuardedDocument): Access | null {
  if (roleAtLeast(principal.role, 'ADMIN') || document.createdBy === actorOf(principal)) {
    return 'WRITE';
  }
  const reachable = new Set<string>(rolesAtMost(principal.role));
  let granted: Access | null = null;
  for (const grant of document.grants) {
    const matches =
      (grant.userId !== null && grant.userId === principal.userId) ||
      (grant.role !== null && reachable.has(grant.role));
    if (matches && (granted === null || grant.access === 'WRITE')) granted = grant.access;
  }
  if (granted === 'WRITE') return 'WRITE';
  if (document.visibility === 'ORGANIZATION') {
    return roleAtLeast(principal.role, 'OPERATOR') ? 'WRITE' : 'READ';
  }
  return granted;
}

/**
 * The same read rule as a database filter, so lists and counts never include a document the
 * caller may not read (the rows are not fetched and filtered afterwards).
 */
export function readableWhere(principal: Principal): Prisma.DocumentWhereInput {
  const base: Prisma.DocumentWhereInput = { organizationId: principal.organizationId };
  if (roleAtLeast(principal.role, 'ADMIN')) return base;
  return {
    ...base,
    OR: [
      { visibility: 'ORGANIZATION' },
      { createdBy: actorOf(principal) },
      {
        grants: {
          some: {
            OR: [
              ...(principal.userId ? [{ userId: principal.userId }] : []),
              { role: { in: rolesAtMost(principal.role) } },
            ],
          },
        },
      },
    ],
  };
}
