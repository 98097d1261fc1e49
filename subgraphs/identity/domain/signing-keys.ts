import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import {
  SignJWT,
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
  type CryptoKey,
} from 'jose';
import { accessTokenType } from '../../../platform/auth/access-token.ts';
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

export interface KeyRingOptions {
  prisma: PrismaClient;
  secret: string;
  alg: 'ES256' | 'EdDSA';
  issuer: string;
  audience: string;
  rotationSeconds: number;
  /** How long a retired key stays published: the longest access token lifetime plus skew. */
  retiredKeyOverlapSeconds: number;
  logger: Logger;
}

interface LoadedKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  createdAt: Date;
}

/**
 * The identity service's signing keys. The newest unretired key signs; `rotate` retires it and
 * keeps it in the JWKS until every token it signed has expired. Private keys are stored encrypted
 * with a key derived from LOTABOTS_SECRET, so a database dump alone cannot mint tokens. Several
 * replicas share the keys through the database and reload them periodically.
 */
export class KeyRing {
  private active: LoadedKey | null = null;
  private published: JSONWebKeySet = { keys: [] };
  private localKeySet: JWTVerifyGetKey = createLocalJWKSet({ keys: [] });
  private readonly encryptionKey: Buffer;
  private loadedAt = 0;

  constructor(private readonly options: KeyRingOptions) {
    this.encryptionKey = Buffer.from(
      hkdfSync('sha256', options.secret, 'lotabots', 'signing-keys/v1', 32),
    );
  }

  /** Loads keys, creating or rotating the active one when it is missing or older than the rotation period. */
  async initialize(): Promise<void> {
    await this.reload();
    const age = this.active ? (Date.now() - this.active.createdAt.getTime()) / 1000 : Infinity;
    if (age >= this.options.rotationSeconds)
      await this.rotate(this.active ? 'scheduled' : 'initial');
  }

  /** Re-reads keys from the database; cheap enough to run every minute on each replica. */
  async reload(): Promise<void> {
    const now = new Date();
    const rows = await this.options.prisma.signingKey.findMany({
      where: { OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
      orderBy: { createdAt: 'desc' },
    });
    const newest = rows.find((row) => row.retiredAt === null);
    this.active = newest
      ? {
          kid: newest.kid,
          alg: newest.alg,
          privateKey: (await importJWK(
            this.decrypt(newest.privateJwkEncrypted),
            newest.alg,
          )) as CryptoKey,
          createdAt: newest.createdAt,
        }
      : null;
    this.published = { keys: rows.map((row) => row.publicJwk as unknown as JWK) };
    this.localKeySet = createLocalJWKSet(this.published);
    this.loadedAt = Date.now();
  }

  /** Creates a new signing key and retires the previous ones (they stay published for the overlap). */
  async rotate(reason: string): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(this.options.alg, {
      extractable: true,
      ...(this.options.alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
    });
    const publicJwk = await exportJWK(publicKey);
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const now = new Date();
    const overlapEnds = new Date(now.getTime() + this.options.retiredKeyOverlapSeconds * 1000);
    await this.options.prisma.$transaction([
      this.options.prisma.signingKey.updateMany({
        where: { retiredAt: null },
        data: { retiredAt: now, expiresAt: overlapEnds },
      }),
      this.options.prisma.signingKey.create({
        data: {
          kid,
          alg: this.options.alg,
          publicJwk: { ...publicJwk, kid, alg: this.options.alg, use: 'sig' },
          privateJwkEncrypted: this.encrypt({ ...privateJwk, kid, alg: this.options.alg }),
        },
      }),
    ]);
    this.options.logger.info({ kid, alg: this.options.alg, reason }, 'signing key rotated');
    await this.reload();
    return kid;
  }

  /** Signs an access token with the active key. */
  async signAccessToken(
    claims: AccessTokenClaims,
  ): Promise<{ token: string; tokenId: string; expiresAt: Date }> {
    if (Date.now() - this.loadedAt > 60_000) await this.reload();
    const key = this.active;
    if (!key) throw new Error('no active signing key; KeyRing.initialize() was not called');
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
      .setIssuer(this.options.issuer)
      .setAudience(claims.audience ?? this.options.audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(tokenId)
      .sign(key.privateKey);
    return { token, tokenId, expiresAt: new Date(expiresAt * 1000) };
  }

  /** The public keys as served at `/.well-known/jwks.json`. */
  jwks(): JSONWebKeySet {
    return this.published;
  }

  /** Verification keys for the identity service's own use (no HTTP round trip). */
  readonly verificationKeys: JWTVerifyGetKey = (header, token) => this.localKeySet(header, token);

  get activeKid(): string | null {
    return this.active?.kid ?? null;
  }

  private encrypt(jwk: JWK): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
    return [
      'v1',
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      body.toString('base64url'),
    ].join('.');
  }

  private decrypt(stored: string): JWK {
    const [version, iv, tag, body] = stored.split('.');
    if (version !== 'v1' || !iv || !tag || !body)
      throw new Error('unsupported signing key encoding');
    const decipher = createDecipheriv(
      'aes-256-gcm',
      this.encryptionKey,
      Buffer.from(iv, 'base64url'),
    );
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const text = Buffer.concat([
      decipher.update(Buffer.from(body, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
    return JSON.parse(text) as JWK;
  }
}

/** The key ring as the identity service configures it (shared by the service and `keys rotate`). */
export function createKeyRing(prisma: PrismaClient, config: Config, logger: Logger): KeyRing {
  return new KeyRing({
    prisma,
    secret: config.secret,
    alg: config.SIGNING_KEY_ALG,
    issuer: config.issuer,
    audience: config.TOKEN_AUDIENCE,
    rotationSeconds: config.SIGNING_KEY_ROTATION_HOURS * 3600,
    // Retired keys stay published for the longest access-token lifetime plus a minute of skew.
    retiredKeyOverlapSeconds: config.ACCESS_TOKEN_TTL_SECONDS + 60,
    logger,
  });
}
