import { randomBytes } from 'node:crypto';
import type { Principal } from '../../../platform/auth/principal.ts';
import { roleAtLeast, type Role } from '../../../platform/auth/roles.ts';
import { conflict, forbidden, notFound } from '../../../platform/errors.ts';
import type { Membership } from '../../../generated/prisma/identity/client.ts';
import type { IdentityDeps } from './deps.ts';
import { hashToken } from './sessions.ts';
import { isUuid, normalizeEmail } from './validation.ts';

export const invitationTtlSeconds = 7 * 24 * 3600;

export type MembershipWithInvite = Membership & { invitationToken?: string };

/** Only an OWNER may hand out or take away OWNER; nobody grants more than they hold. */
function assertMayAssign(principal: Principal, role: Role): void {
  if (!roleAtLeast(principal.role, role)) {
    throw forbidden(`You cannot grant role ${role}, which is stronger than your own`);
  }
}

/**
 * Invites someone by email. The membership stays INVITED until `acceptInvitation` with the
 * returned one-time token (there is no mail service; the inviter passes the token on).
 */
export async function inviteMember(
  deps: IdentityDeps,
  principal: Principal,
  input: { email: string; role: Role },
): Promise<MembershipWithInvite> {
  const email = normalizeEmail(input.email);
  assertMayAssign(principal, input.role);
  const token = `lbi_${randomBytes(32).toString('base64url')}`;
  const invite = {
    role: input.role,
    invitedById: principal.userId,
    inviteTokenHash: hashToken(token),
    inviteExpiresAt: new Date(Date.now() + invitationTtlSeconds * 1000),
  };
  const membership = await deps.prisma.$transaction(async (tx) => {
    const user =
      (await tx.user.findUnique({ where: { email } })) ??
      (await tx.user.create({ data: { email } }));
    const existing = await tx.membership.findUnique({
      where: {
        userId_organizationId: { userId: user.id, organizationId: principal.organizationId },
      },
    });
    if (existing?.acceptedAt) throw conflict('This person is already a member of the organization');
    // Re-inviting replaces the previous token and role.
    return existing
      ? tx.membership.update({ where: { id: existing.id }, data: invite })
      : tx.membership.create({
          data: { ...invite, userId: user.id, organizationId: principal.organizationId },
        });
  });
  deps.logger.info(
    { organizationId: principal.organizationId, membershipId: membership.id, role: input.role },
    'member invited',
  );
  return { ...membership, invitationToken: token };
}

export async function updateMemberRole(
  deps: IdentityDeps,
  principal: Principal,
  input: { userId: string; role: Role },
): Promise<Membership> {
  const membership = isUuid(input.userId)
    ? await deps.prisma.membership.findUnique({
        where: {
          userId_organizationId: { userId: input.userId, organizationId: principal.organizationId },
        },
      })
    : null;
  if (!membership) throw notFound('Member');
  assertMayAssign(principal, input.role);
  assertMayAssign(principal, membership.role);
  if (membership.role === input.role) return membership;

  return deps.prisma.$transaction(async (tx) => {
    if (membership.role === 'OWNER') {
      const owners = await tx.membership.count({
        where: {
          organizationId: principal.organizationId,
          role: 'OWNER',
          acceptedAt: { not: null },
        },
      });
      if (owners <= 1) throw conflict('The organization must keep at least one OWNER');
    }
    const updated = await tx.membership.update({
      where: { id: membership.id },
      data: { role: input.role },
    });
    deps.logger.info(
      {
        organizationId: principal.organizationId,
        userId: input.userId,
        from: membership.role,
        to: input.role,
      },
      'member role changed',
    );
    return updated;
  });
}
