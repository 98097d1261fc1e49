import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import type { Logger } from '../logger.ts';

/** A signing key as a domain's database stores it (same columns in every domain). */
export interface StoredSigningKey {
  kid: string;
  alg: string;
  publicJwk: unknown;
  privateJwkEncrypted: string;
  createdAt: Date;
  retiredAt: Date | null;
}

/** Where a key ring keeps its keys: a `SigningKey` table in the owning domain's database. */
export interface SigningKeyStore {
  /** Keys still published at `now` (not expired), newest first. */
  published(now: Date): Promise<StoredSigningKey[]>;
  /** Retires every active key (published until `overlapEnds`) and stores `key`, atomically. */
  rotate(
    key: Pick<StoredSigningKey, 'kid' | 'alg' | 'publicJwk' | 'privateJwkEncrypted'>,
    now: Date,
    overlapEnds: Date,
  ): Promise<void>;
}

/**
 * What a domain's Prisma client offers for its `SigningKey` model (every domain that signs has
 * the same model; each has its own generated client, hence the structural type).
 */
export interface SigningKeyModel {
  findMany(args: {
    where: { OR: [{ expiresAt: null }, { expiresAt: { gt: Date } }] };
    orderBy: { createdAt: 'desc' };
  }): PromiseLike<StoredSigningKey[]>;
  updateMany(args: {
    where: { retiredAt: null };
    data: { retiredAt: Date; expiresAt: Date };
  }): PromiseLike<unknown>;
  create(args: {
    data: { kid: string; alg: string; publicJwk: object; privateJwkEncrypted: string };
  }): PromiseLike<unknown>;
}

/** A `SigningKey` table as a key store; `transaction` runs the rotation's two writes atomically. */
export function signingKeyTable(
  table: SigningKeyModel,
  transaction: (work: (tx: SigningKeyModel) => Promise<void>) => Promise<void>,
): SigningKeyStore {
  return {
    published: async (now) =>
      table.findMany({
        where: { OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
        orderBy: { createdAt: 'desc' },
      }),
    rotate: (key, now, overlapEnds) =>
      transaction(async (tx) => {
        await tx.updateMany({
          where: { retiredAt: null },
          data: { retiredAt: now, expiresAt: overlapEnds },
        });
        await tx.create({ data: { ...key, publicJwk: key.publicJwk as object } });
      }),
  };
}

export type SigningAlgorithm = 'ES256' | 'ES384' | 'EdDSA';

export interface KeyRingOptions {
  store: SigningKeyStore;
  secret: string;
  alg: SigningAlgorithm;
  /** Separates the encryption keys of different rings derived from the one secret. */
  purpose: string;
  rotationSeconds: number;
  /** How long a retired key stays published: the longest lifetime of anything it signed, plus skew. */
  retiredKeyOverlapSeconds: number;
  logger: Logger;
}

/** The key that signs right now. */
export interface ActiveSigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  createdAt: Date;
}

/**
 * A set of signing keys shared by a service's replicas through its database. The newest unretired
 * key signs; `rotate` retires it and keeps it in the JWKS for the overlap, so whatever it signed
 * stays verifiable. Private keys are stored encrypted with a key derived from LOTABOTS_SECRET, so
 * a database dump alone cannot sign.
 */
export class SigningKeyRing {
  private active: ActiveSigningKey | null = null;
  private published: JSONWebKeySet = { keys: [] };
  private localKeySet: JWTVerifyGetKey = createLocalJWKSet({ keys: [] });
  private readonly encryptionKey: Buffer;
  private loadedAt = 0;

  constructor(protected readonly ringOptions: KeyRingOptions) {
    this.encryptionKey = Buffer.from(
      hkdfSync('sha256', ringOptions.secret, 'lotabots', ringOptions.purpose, 32),
    );
  }

  /** Loads keys, creating or rotating the active one when it is missing or older than the rotation period. */
  async initialize(): Promise<void> {
    await this.reload();
    const age = this.active ? (Date.now() - this.active.createdAt.getTime()) / 1000 : Infinity;
    if (age >= this.ringOptions.rotationSeconds)
      await this.rotate(this.active ? 'scheduled' : 'initial');
  }

  /** Re-reads keys from the database; cheap enough to run every minute on each replica. */
  async reload(): Promise<void> {
    const rows = await this.ringOptions.store.published(new Date());
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
    this.published = { keys: rows.map((row) => row.publicJwk as JWK) };
    this.localKeySet = createLocalJWKSet(this.published);
    this.loadedAt = Date.now();
  }

  /** Creates a new signing key and retires the previous ones (they stay published for the overlap). */
  async rotate(reason: string): Promise<string> {
    const { alg } = this.ringOptions;
    const { privateKey, publicKey } = await generateKeyPair(alg, {
      extractable: true,
      ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
    });
    const publicJwk = await exportJWK(publicKey);
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const now = new Date();
    await this.ringOptions.store.rotate(
      {
        kid,
        alg,
        publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
        privateJwkEncrypted: this.encrypt({ ...privateJwk, kid, alg }),
      },
      now,
      new Date(now.getTime() + this.ringOptions.retiredKeyOverlapSeconds * 1000),
    );
    this.ringOptions.logger.info({ kid, alg, reason }, 'signing key rotated');
    await this.reload();
    return kid;
  }

  /** The key to sign with now; reloads first when the last load is over a minute old. */
  async signingKey(): Promise<ActiveSigningKey> {
    if (Date.now() - this.loadedAt > 60_000) await this.reload();
    const key = this.active;
    if (!key) throw new Error('no active signing key; initialize() was not called');
    return key;
  }

  /** The public keys as served at `/.well-known/jwks.json`. */
  jwks(): JSONWebKeySet {
    return this.published;
  }

  /** Verification keys for the owning service's own use (no HTTP round trip). */
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
