import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { accessTokenType } from '../../../platform/auth/access-token.ts';
import { SigningKeyRing, signingKeyTable } from '../../../platform/auth/key-ring.ts';
import type { Role, Tier } from '../../../platform/auth/roles.ts';
import type { Config } from '../../../platform/config.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { PrismaClient } from '../../../generated/prisma/identity/client.ts';

export interface AccessTokenClaims {
  subject: string;
  organizationId: string;
  role: Role;
  tier: Tier;
  ttlSeconds: number;
  /** Overrides for tooling that needs tokens for another audience or time (and hostile-token tests). */
  audience?: string;
  issuedAt?: number;
}

/**
 * The identity service's signing keys: a SigningKeyRing whose keys sign access tokens. Retired
 * keys stay published until every token they signed has expired.
 */
export class KeyRing extends SigningKeyRing {
  constructor(
    options: ConstructorParameters<typeof SigningKeyRing>[0],
    private readonly tokens: { issuer: string; audience: string },
  ) {
    super(options);
  }

  /** Signs an access token with the active key. */
  async signAccessToken(
    claims: AccessTokenClaims,
  ): Promise<{ token: string; tokenId: string; expiresAt: Date }> {
    const key = await this.signingKey();
    const tokenId = randomUUID();
    const issuedAt = claims.issuedAt ?? Math.floor(Date.now() / 1000);
    const expiresAt = issuedAt + claims.ttlSeconds;
    const token = await new SignJWT({
      org: claims.organizationId,
      role: claims.role,
      tier: claims.tier,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: accessTokenType })
      .setSubject(claims.subject)
      .setIssuer(this.tokens.issuer)
      .setAudience(claims.audience ?? this.tokens.audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(tokenId)
      .sign(key.privateKey);
    return { token, tokenId, expiresAt: new Date(expiresAt * 1000) };
  }
}

/** The key ring as the identity service configures it (shared by the service and `keys rotate`). */
export function createKeyRing(prisma: PrismaClient, config: Config, logger: Logger): KeyRing {
  return new KeyRing(
    {
      store: signingKeyTable(prisma.signingKey, (work) =>
        prisma.$transaction((tx) => work(tx.signingKey)),
      ),
      secret: config.secret,
      alg: config.SIGNING_KEY_ALG,
      purpose: 'signing-keys/v1',
      rotationSeconds: config.SIGNING_KEY_ROTATION_HOURS * 3600,
      // Retired keys stay published for the longest access-token lifetime plus a minute of skew.
      retiredKeyOverlapSeconds: config.ACCESS_TOKEN_TTL_SECONDS + 60,
      logger,
    },
    { issuer: config.issuer, audience: config.TOKEN_AUDIENCE },
  );
}
