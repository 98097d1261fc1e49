/** Roles, strongest first, as API.md lists them. */
export const roles = ['OWNER', 'ADMIN', 'OPERATOR', 'AUDITOR', 'VIEWER'] as const;
export type Role = (typeof roles)[number];

export const tiers = ['FREE', 'PRO', 'ENTERPRISE'] as const;
export type Tier = (typeof tiers)[number];

const rank: Record<Role, number> = { OWNER: 5, ADMIN: 4, OPERATOR: 3, AUDITOR: 2, VIEWER: 1 };

/** True when `role` carries at least the rights of `minimum`. */
export function roleAtLeast(role: Role, minimum: Role): boolean {
  return rank[role] >= rank[minimum];
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

export function isTier(value: unknown): value is Tier {
  return typeof value === 'string' && (tiers as readonly string[]).includes(value);
}
