import { randomBytes } from 'node:crypto';
import type { IdentityDeps } from './deps.ts';
import { normalizeEmail } from './validation.ts';

export interface DemoAccount {
  email: string;
  /** Only when this call created the account: the password is never stored in clear. */
  password: string | null;
  organizationId: string;
}

/**
 * Creates the demo organization and its OWNER on first start so `npm start` is usable at once.
 * Without LOTABOTS_DEMO_PASSWORD a random password is generated and shown once.
 */
export async function ensureDemoAccount(
  deps: IdentityDeps,
  rawEmail: string,
  password?: string,
): Promise<DemoAccount> {
  const email = normalizeEmail(rawEmail);
  const existing = await deps.prisma.user.findUnique({
    where: { email },
    include: { memberships: { orderBy: { createdAt: 'asc' }, take: 1 } },
  });
  const first = existing?.memberships[0];
  if (existing && first) return { email, password: null, organizationId: first.organizationId };

  const chosen = password ?? randomBytes(12).toString('base64url');
  const passwordHash = await deps.hasher.hash(chosen);
  const organization = await deps.prisma.$transaction(async (tx) => {
    const user = existing
      ? await tx.user.update({ where: { id: existing.id }, data: { passwordHash } })
      : await tx.user.create({ data: { email, displayName: 'Demo Owner', passwordHash } });
    const taken = await tx.organization.findUnique({ where: { slug: 'lotabots-demo' } });
    const org = await tx.organization.create({
      data: {
        name: 'LotaBots Demo',
        slug: taken ? `lotabots-demo-${randomBytes(3).toString('hex')}` : 'lotabots-demo',
        tier: 'ENTERPRISE',
      },
    });
    await tx.membership.create({
      data: { userId: user.id, organizationId: org.id, role: 'OWNER', acceptedAt: new Date() },
    });
    return org;
  });
  deps.logger.info({ email, organizationId: organization.id }, 'demo organization created');
  return { email, password: chosen, organizationId: organization.id };
}
