import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../../../platform/auth/roles.ts';
import { forbidden, unauthenticated } from '../../../platform/errors.ts';
import type { Organization, User } from '../../../generated/prisma/identity/client.ts';
import type { IdentityDeps } from './deps.ts';

/** What `signUp`, `login`, `refreshToken` and `acceptInvitation` answer. */
export interface AuthResult {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: User;
  organization: Organization;
}

const refreshTokenPrefix = 'lbr_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Issues an access token for the user's membership in `organization` and starts (or continues)
 * a refresh-token family. `familyId` is passed on rotation so reuse can revoke the whole family.
 */
export async function issueSession(
  deps: IdentityDeps,
  user: User,
  organization: Organization,
  role: Role,
  familyId: string = randomUUID(),
): Promise<AuthResult> {
  const refreshToken = refreshTokenPrefix + randomBytes(32).toString('base64url');
  await deps.prisma.refreshToken.create({
    data: {
      tokenHash: hashToken(refreshToken),
      familyId,
      userId: user.id,
      organizationId: organization.id,
      expiresAt: new Date(Date.now() + deps.config.REFRESH_TOKEN_TTL_SECONDS * 1000),
    },
  });
  const ttl = deps.config.ACCESS_TOKEN_TTL_SECONDS;
  const { token } = await deps.keys.signAccessToken({
    subject: user.id,
    organizationId: organization.id,
    role,
    tier: organization.tier,
    ttlSeconds: ttl,
  });
  return { accessToken: token, refreshToken, expiresIn: ttl, user, organization };
}

/**
 * Rotates a refresh token. A token that was already used or revoked means it leaked (or a client
 * raced itself): the whole family is revoked and the caller must sign in again.
 */
export async function rotateRefreshToken(
  deps: IdentityDeps,
  presented: string,
): Promise<AuthResult> {
  const { prisma } = deps;
  if (!presented.startsWith(refreshTokenPrefix) || presented.length > 200) {
    throw unauthenticated('Refresh token is invalid');
  }
  const row = await prisma.refreshToken.findUnique({ where: { tokenHash: hashToken(presented) } });
  if (!row) throw unauthenticated('Refresh token is invalid');
  if (row.usedAt || row.revokedAt) {
    const revoked = await revokeFamily(deps, row.familyId, 'reuse-detected');
    deps.logger.warn(
      { familyId: row.familyId, userId: row.userId, revokedTokens: revoked },
      'refresh token reuse detected; session family revoked',
    );
    throw unauthenticated(
      'Refresh token was already used; the session has been revoked for safety, sign in again',
    );
  }
  if (row.expiresAt.getTime() <= Date.now())
    throw unauthenticated('Refresh token expired; sign in again');

  // Claim the row atomically: of two concurrent rotations of one token, only one wins.
  const claimed = await prisma.refreshToken.updateMany({
    where: { id: row.id, usedAt: null, revokedAt: null },
    data: { usedAt: new Date() },
  });
  if (claimed.count !== 1) {
    await revokeFamily(deps, row.familyId, 'reuse-detected');
    throw unauthenticated(
      'Refresh token was already used; the session has been revoked for safety, sign in again',
    );
  }

  const membership = await prisma.membership.findUnique({
    where: { userId_organizationId: { userId: row.userId, organizationId: row.organizationId } },
    include: { user: true, organization: true },
  });
  if (!membership || !membership.acceptedAt) {
    await revokeFamily(deps, row.familyId, 'membership-removed');
    throw forbidden('You are no longer a member of this organization');
  }
  // The new token carries the member's current role and the organization's current tier.
  return issueSession(
    deps,
    membership.user,
    membership.organization,
    membership.role,
    row.familyId,
  );
}

/** Ends the session a refresh token belongs to. True when there was one to end. */
export async function logout(deps: IdentityDeps, presented: string): Promise<boolean> {
  const row = await deps.prisma.refreshToken.findUnique({
    where: { tokenHash: hashToken(presented) },
  });
  if (!row) return false;
  return (await revokeFamily(deps, row.familyId, 'logout')) > 0;
}

async function revokeFamily(deps: IdentityDeps, familyId: string, reason: string): Promise<number> {
  const result = await deps.prisma.refreshToken.updateMany({
    where: { familyId, revokedAt: null },
    data: { revokedAt: new Date(), revokedReason: reason },
  });
  return result.count;
}
