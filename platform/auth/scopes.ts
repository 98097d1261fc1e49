import type { Principal } from './principal.ts';
import type { Role } from './roles.ts';

/**
 * The one table that maps roles to the scopes schema directives ask for
 * (`@requiresScopes(scopes: [["admin"]])`). Each role holds its own scope and those of every
 * weaker role, so "at least ADMIN" is written as the `admin` scope.
 */
export const roleScopes: Record<Role, readonly string[]> = {
  OWNER: ['owner', 'admin', 'operator', 'auditor', 'viewer'],
  ADMIN: ['admin', 'operator', 'auditor', 'viewer'],
  OPERATOR: ['operator', 'auditor', 'viewer'],
  AUDITOR: ['auditor', 'viewer'],
  VIEWER: ['viewer'],
};

export function scopesOf(principal: Principal | null): ReadonlySet<string> {
  return new Set(principal ? roleScopes[principal.role] : []);
}

/**
 * Named policies for `@policy(policies: [["name"]])`. Each decides from the verified principal
 * alone, so the gateway and the subgraphs reach the same answer.
 */
export const policies: Record<string, (principal: Principal) => boolean> = {
  /** A signed-in person, not an API key. */
  'user-session': (principal) => principal.userId !== null,
};
