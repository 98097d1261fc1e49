import { randomBytes } from 'node:crypto';
import { badInput, conflict, forbidden, unauthenticated } from '../../../platform/errors.ts';
import { Prisma, type Organization } from '../../../generated/prisma/identity/client.ts';
import type { IdentityDeps } from './deps.ts';
import { assertStrongPassword } from './passwords.ts';
import { hashToken, issueSession, type AuthResult } from './sessions.ts';
import type { LoginThrottle } from './throttle.ts';
import { cleanName, normalizeEmail, optionalName, slugify } from './validation.ts';

const invalidCredentials = 'Invalid email or password';

export interface SignUpInput {
  email: string;
  password: string;
  organizationName: string;
  displayName?: string | null;
}

/** Creates a user, an organization and the OWNER membership in one transaction. */
export async function signUp(
  deps: IdentityDeps,
  throttle: LoginThrottle,
  input: SignUpInput,
  ip: string,
): Promise<AuthResult> {
  const email = normalizeEmail(input.email);
  const organizationName = cleanName(input.organizationName, 'organizationName');
  const displayName = optionalName(input.displayName, 'displayName');
  assertStrongPassword(input.password, email);
  await throttle.chargeSignUp(ip);

  const passwordHash = await deps.hasher.hash(input.password);
  try {
    const { user, organization } = await deps.prisma.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email, displayName, passwordHash } });
      const organization = await createOrganization(tx, organizationName);
      await tx.membership.create({
        data: {
          userId: user.id,
          organizationId: organization.id,
          role: 'OWNER',
          acceptedAt: new Date(),
        },
      });
      return { user, organization };
    });
    deps.logger.info({ userId: user.id, organizationId: organization.id }, 'user signed up');
    return await issueSession(deps, user, organization, 'OWNER');
  } catch (error) {
    if (isUniqueViolation(error, 'email')) {
      throw conflict(
        'An account with this email already exists; sign in instead, or ask to be invited',
      );
    }
    throw error;
  }
}

async function createOrganization(
  tx: Prisma.TransactionClient,
  name: string,
): Promise<Organization> {
  const base = slugify(name);
  // The slug must be unique; on a clash add a short random suffix rather than failing the sign-up.
  const taken = await tx.organization.findUnique({ where: { slug: base }, select: { id: true } });
  const slug = taken ? `${base}-${randomBytes(3).toString('hex')}` : base;
  return tx.organization.create({ data: { name, slug } });
}

export interface LoginInput {
  email: string;
  password: string;
  organizationId?: string | null;
}

/**
 * Checks credentials. An unknown email and a wrong password answer the same error after the same
 * amount of work, and both count towards the throttle.
 */
export async function login(
  deps: IdentityDeps,
  throttle: LoginThrottle,
  input: LoginInput,
  ip: string,
): Promise<AuthResult> {
  const email = normalizeEmail(input.email);
  if (input.password.length === 0 || input.password.length > 1024)
    throw unauthenticated(invalidCredentials);
  await throttle.assertAllowed(email, ip);

  const user = await deps.prisma.user.findUnique({ where: { email } });
  const valid = user?.passwordHash
    ? await deps.hasher.verify(input.password, user.passwordHash)
    : (await deps.hasher.verifyDummy(input.password), false);
  if (!user || !valid) {
    await throttle.recordFailure(email, ip);
    throw unauthenticated(invalidCredentials);
  }
  await throttle.recordSuccess(email);
  if (user.passwordHash && deps.hasher.needsRehash(user.passwordHash)) {
    await deps.prisma.user.update({
      where: { id: user.id },
      data: { passwordHash: await deps.hasher.hash(input.password) },
    });
  }

  const memberships = await deps.prisma.membership.findMany({
    where: { userId: user.id, acceptedAt: { not: null } },
    include: { organization: true },
    orderBy: { createdAt: 'asc' },
  });
  const wanted = input.organizationId;
  const membership = wanted ? memberships.find((m) => m.organizationId === wanted) : memberships[0];
  if (!membership) {
    throw forbidden(
      wanted
        ? 'You are not a member of that organization'
        : 'Your account belongs to no organization',
    );
  }
  return issueSession(deps, user, membership.organization, membership.role);
}

export interface AcceptInvitationInput {
  token: string;
  password?: string | null;
  displayName?: string | null;
}

/**
 * Accepts an invitation. A new user sets their password here; an existing user proves who they
 * are with theirs. The token works once and only before it expires.
 */
export async function acceptInvitation(
  deps: IdentityDeps,
  throttle: LoginThrottle,
  input: AcceptInvitationInput,
  ip: string,
): Promise<AuthResult> {
  const membership = await deps.prisma.membership.findUnique({
    where: { inviteTokenHash: hashToken(input.token) },
    include: { user: true, organization: true },
  });
  if (
    !membership ||
    membership.acceptedAt ||
    !membership.inviteExpiresAt ||
    membership.inviteExpiresAt.getTime() < Date.now()
  ) {
    throw unauthenticated('Invitation is invalid or has expired');
  }
  const password = input.password ?? '';
  let user = membership.user;
  if (user.passwordHash) {
    await throttle.assertAllowed(user.email, ip);
    if (!(await deps.hasher.verify(password, user.passwordHash))) {
      await throttle.recordFailure(user.email, ip);
      throw unauthenticated(invalidCredentials);
    }
  } else {
    if (!password)
      throw badInput('Choose a password to accept the invitation', { field: 'password' });
    assertStrongPassword(password, user.email);
    user = await deps.prisma.user.update({
      where: { id: user.id },
      data: {
        passwordHash: await deps.hasher.hash(password),
        displayName: optionalName(input.displayName, 'displayName') ?? user.displayName,
      },
    });
  }
  const accepted = await deps.prisma.membership.updateMany({
    where: { id: membership.id, acceptedAt: null },
    data: { acceptedAt: new Date(), inviteTokenHash: null },
  });
  if (accepted.count !== 1) throw unauthenticated('Invitation is invalid or has expired');
  return issueSession(deps, user, membership.organization, membership.role);
}

export function isUniqueViolation(error: unknown, field?: string): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError) || error.code !== 'P2002')
    return false;
  if (!field) return true;
  return JSON.stringify(error.meta ?? {}).includes(field);
}
