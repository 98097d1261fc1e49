import { describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/auth/principal.ts';
import type { Role } from '../../platform/auth/roles.ts';
import { accessRulesFromSdl, decide, requirementFor } from '../../platform/auth/schema-rules.ts';

// Directive forms no subgraph uses yet (type-level, OR of AND scope sets, @policy); the gateway
// and the subgraphs both rely on this reading of them.
const rules = accessRulesFromSdl(/* GraphQL */ `
  type Query {
    report: Report
    either: String @requiresScopes(scopes: [["admin"], ["auditor", "operator"]])
    mine: String @policy(policies: [["user-session"]])
    open: String
  }
  type Report @authenticated {
    id: ID!
  }
`);

const principal = (role: Role, userId: string | null = 'u1'): Principal => ({
  subject: userId ?? 'apikey:k1',
  userId,
  apiKeyId: userId ? null : 'k1',
  organizationId: 'o1',
  role,
  tier: 'FREE',
  tokenId: 't1',
  expiresAt: new Date(Date.now() + 60_000),
});

describe('access requirements read from SDL', () => {
  it('applies a type-level directive to every field returning that type', () => {
    const requirement = requirementFor(rules, 'Query', 'report', 'Report');
    expect(requirement?.authenticated).toBe(true);
    expect(decide(requirement!, null)).toMatchObject({ allowed: false, code: 'UNAUTHENTICATED' });
    expect(decide(requirement!, principal('VIEWER'))).toEqual({ allowed: true });
    expect(requirementFor(rules, 'Query', 'open', 'String')).toBeNull();
  });

  it('reads the outer scope list as OR and each inner list as AND', () => {
    const requirement = requirementFor(rules, 'Query', 'either', 'String')!;
    expect(decide(requirement, principal('ADMIN'))).toEqual({ allowed: true });
    // OPERATOR holds operator, auditor and viewer: the second alternative.
    expect(decide(requirement, principal('OPERATOR'))).toEqual({ allowed: true });
    const auditor = decide(requirement, principal('AUDITOR'));
    expect(auditor).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
    expect(auditor.allowed ? '' : auditor.reason).toContain(
      'the ADMIN role or stronger or the AUDITOR role or stronger and the OPERATOR role or stronger',
    );
  });

  it('evaluates named policies against the principal, and refuses unknown ones', () => {
    const requirement = requirementFor(rules, 'Query', 'mine', 'String')!;
    expect(decide(requirement, principal('VIEWER'))).toEqual({ allowed: true });
    expect(decide(requirement, principal('OWNER', null))).toMatchObject({
      allowed: false,
      code: 'FORBIDDEN',
    });
    const unknown = accessRulesFromSdl(
      'type Query { x: String @policy(policies: [["no-such-policy"]]) }',
    );
    expect(
      decide(requirementFor(unknown, 'Query', 'x', 'String')!, principal('OWNER')),
    ).toMatchObject({ allowed: false });
  });
});
