import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../../../platform/auth/principal.ts';
import { roleAtLeast, type Role } from '../../../platform/auth/roles.ts';
import { badInput, forbidden, notFound, unauthenticated } from '../../../platform/errors.ts';
import type { ApiKey } from '../../../generated/prisma/identity/client.ts';
import { apiKeyRevokedTopic } from '../../../platform/events/topics.ts';
import type { IdentityDeps } from './deps.ts';
import { cleanName, isUuid } from './validation.ts';

/**
 * API keys look like `lb_<prefix>_<secret>`: the prefix finds the row and is safe to show, the
 * secret is 256 random bits stored only as its SHA-256 (a fast hash is enough for a secret that
 * cannot be guessed). A key acts for its organization with the role it was created with.
 */
const keyPattern = /^lb_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
/** Access tokens minted for API keys are short: revocation also cuts them off within this time. */
export const apiKeyTokenTtlSeconds = 300;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export async function createApiKey(
  deps: IdentityDeps,
  principal: Principal,
  input: { name: string; role: Role; expiresAt?: Date | null },
): Promise<{ apiKey: ApiKey; secret: string }> {
  const name = cleanName(input.name, 'name');
  if (!roleAtLeast(principal.role, input.role)) {
    throw forbidden(
      `You cannot create a key with role ${input.role}, which is stronger than your own`,
    );
  }
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw badInput('expiresAt must be in the future', { field: 'expiresAt' });
  }
  const prefix = randomBytes(9)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 12);
  const secretPart = randomBytes(32).toString('base64url');
  const apiKey = await deps.prisma.apiKey.create({
    data: {
      organizationId: principal.organizationId,
      name,
      role: input.role,
      prefix,
      secretHash: sha256(secretPart).toString('hex'),
      createdById: principal.userId,
      expiresAt: input.expiresAt ?? null,
    },
  });
  deps.logger.info(
    { apiKeyId: apiKey.id, organizationId: apiKey.organizationId, role: apiKey.role },
    'API key created',
  );
  return { apiKey, secret: `lb_${prefix}_${secretPart}` };
}

export async function listApiKeys(deps: IdentityDeps, principal: Principal): Promise<ApiKey[]> {
  return deps.prisma.apiKey.findMany({
    where: { organizationId: principal.organizationId },
    orderBy: { createdAt: 'desc' },
  });
}

export async function revokeApiKey(
  deps: IdentityDeps,
  principal: Principal,
  id: string,
): Promise<ApiKey> {
  // Scoped by organization in the query itself: another tenant's key id answers NOT_FOUND.
  const key = isUuid(id)
    ? await deps.prisma.apiKey.findFirst({
        where: { id, organizationId: principal.organizationId },
      })
    : null;
  if (!key) throw notFound('API key');
  if (!roleAtLeast(principal.role, key.role)) {
    throw forbidden(
      `You cannot revoke a key with role ${key.role}, which is stronger than your own`,
    );
  }
  const revoked = key.revokedAt
    ? key
    : await deps.prisma.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
  await deps.events.publish(apiKeyRevokedTopic, { prefix: revoked.prefix, apiKeyId: revoked.id });
  deps.logger.info({ apiKeyId: id, organizationId: key.organizationId }, 'API key revoked');
  return revoked;
}

/**
 * Exchanges an API key for a short-lived access token, so the gateway and every subgraph verify
 * one kind of credential. Errors say what is wrong with the key without revealing other keys.
 */
export async function exchangeApiKey(
  deps: IdentityDeps,
  credential: string,
): Promise<{ accessToken: string; expiresIn: number }> {
  const match = keyPattern.exec(credential);
  if (!match) throw unauthenticated('API key is malformed');
  const [, prefix, secretPart] = match as unknown as [string, string, string];
  const key = await deps.prisma.apiKey.findUnique({
    where: { prefix },
    include: { organization: true },
  });
  const presented = sha256(secretPart);
  if (!key || !timingSafeEqual(presented, Buffer.from(key.secretHash, 'hex'))) {
    throw unauthenticated('API key is invalid');
  }
  if (key.revokedAt) throw unauthenticated('API key has been revoked');
  if (key.expiresAt && key.expiresAt.getTime() <= Date.now())
    throw unauthenticated('API key has expired');

  // lastUsedAt is for humans ("is this key still used?"); minute precision spares a write per request.
  if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
    await deps.prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } });
  }
  const ttl = Math.min(apiKeyTokenTtlSeconds, deps.config.ACCESS_TOKEN_TTL_SECONDS);
  const { token } = await deps.keys.signAccessToken({
    subject: `apikey:${key.id}`,
    organizationId: key.organizationId,
    role: key.role,
    tier: key.organization.tier,
    ttlSeconds: ttl,
  });
  return { accessToken: token, expiresIn: ttl };
}
