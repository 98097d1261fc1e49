import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { Principal } from '../../../platform/auth/principal.ts';
import { badInput, conflict, notFound } from '../../../platform/errors.ts';
import type { PrismaClient } from '../../../generated/prisma/model-attestation/client.ts';
import type { AuditChain } from './audit-chain.ts';
import { defaultPolicy, parsePolicyDocument, type CompliancePolicyDocument } from './compliance.ts';
import { actorOf } from './models.ts';

const curves = new Set(['prime256v1', 'secp384r1']);
const policyIdPattern = /^[a-z0-9][a-z0-9._-]{0,63}(\/[a-z0-9][a-z0-9._-]{0,63})?$/;

/** The key id of a public key: SHA-256 of its SubjectPublicKeyInfo DER, hex. */
export function keyIdOf(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** A policy as an attestation applies it. */
export interface ResolvedPolicy {
  policyId: string;
  version: number;
  document: CompliancePolicyDocument;
}

/**
 * The organization's model-signing public keys and its compliance policies (versioned: a policy
 * id's next document is a new version; attestations name the version they used).
 */
export class KeysAndPolicies {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly audit: AuditChain,
  ) {}

  async registerKey(principal: Principal, input: { name: string; publicKeyPem: string }) {
    const name = input.name.trim();
    if (name.length === 0 || name.length > 100) {
      throw badInput('name must be 1–100 characters', { field: 'name' });
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: input.publicKeyPem.slice(0, 10_000), format: 'pem' });
    } catch {
      throw badInput('publicKeyPem is not a PEM public key', { field: 'publicKeyPem' });
    }
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (key.asymmetricKeyType !== 'ec' || !curve || !curves.has(curve)) {
      throw badInput('only ECDSA P-256 and P-384 public keys sign models', {
        field: 'publicKeyPem',
      });
    }
    const id = keyIdOf(key);
    const pem = key.export({ type: 'spki', format: 'pem' }).toString();
    const existing = await this.prisma.modelSigningKey.findUnique({
      where: { organizationId_id: { organizationId: principal.organizationId, id } },
    });
    if (existing) throw conflict('this key is registered already', 'KEY_EXISTS');
    return this.prisma.$transaction(async (tx) => {
      const created = await tx.modelSigningKey.create({
        data: {
          organizationId: principal.organizationId,
          id,
          name,
          publicKeyPem: pem,
          createdBy: actorOf(principal),
        },
      });
      await this.audit.append(
        principal.organizationId,
        {
          action: 'signing-key.registered',
          actor: actorOf(principal),
          subjectType: 'signing-key',
          subjectId: id,
          detail: { name, curve },
        },
        tx,
      );
      return created;
    });
  }

  async revokeKey(principal: Principal, id: string) {
    const where = { organizationId_id: { organizationId: principal.organizationId, id } };
    const key = await this.prisma.modelSigningKey.findUnique({ where });
    if (!key) throw notFound('Signing key');
    if (key.revokedAt) return key;
    return this.prisma.$transaction(async (tx) => {
      const revoked = await tx.modelSigningKey.update({ where, data: { revokedAt: new Date() } });
      await this.audit.append(
        principal.organizationId,
        {
          action: 'signing-key.revoked',
          actor: actorOf(principal),
          subjectType: 'signing-key',
          subjectId: id,
        },
        tx,
      );
      return revoked;
    });
  }

  listKeys(principal: Principal) {
    return this.prisma.modelSigningKey.findMany({
      where: { organizationId: principal.organizationId },
      orderBy: { createdAt: 'desc' },
    });
  }

  /** The organization's keys that may verify signatures now (not revoked). */
  async activeKeys(organizationId: string): Promise<{ keyid: string; key: KeyObject }[]> {
    const rows = await this.prisma.modelSigningKey.findMany({
      where: { organizationId, revokedAt: null },
    });
    return rows.map((row) => ({ keyid: row.id, key: createPublicKey(row.publicKeyPem) }));
  }

  async createPolicy(principal: Principal, input: { policyId: string; document: unknown }) {
    const policyId = input.policyId.trim();
    if (!policyIdPattern.test(policyId) || policyId.startsWith('lotabots/')) {
      throw badInput('policyId must look like acme/production (lowercase; lotabots/ is reserved)', {
        field: 'policyId',
      });
    }
    const document = parsePolicyDocument(input.document);
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`policy:${principal.organizationId}:${policyId}`}))`;
      const last = await tx.compliancePolicy.findFirst({
        where: { organizationId: principal.organizationId, policyId },
        orderBy: { version: 'desc' },
      });
      const created = await tx.compliancePolicy.create({
        data: {
          organizationId: principal.organizationId,
          policyId,
          version: (last?.version ?? 0) + 1,
          document: document,
          createdBy: actorOf(principal),
        },
      });
      await this.audit.append(
        principal.organizationId,
        {
          action: 'policy.created',
          actor: actorOf(principal),
          subjectType: 'policy',
          subjectId: `${policyId}@${created.version}`,
          detail: { document },
        },
        tx,
      );
      return created;
    });
  }

  async listPolicies(principal: Principal) {
    const rows = await this.prisma.compliancePolicy.findMany({
      where: { organizationId: principal.organizationId },
      orderBy: [{ policyId: 'asc' }, { version: 'desc' }],
    });
    return [
      { ...defaultPolicy, createdAt: new Date(0) },
      ...rows.map((row) => ({ ...row, document: row.document as CompliancePolicyDocument })),
    ];
  }

  /** `id` (latest version) or `id@version`; the platform default when null. */
  async resolvePolicy(organizationId: string, reference: string | null): Promise<ResolvedPolicy> {
    if (
      !reference ||
      reference === defaultPolicy.policyId ||
      reference === 'lotabots/model-default@1'
    ) {
      return defaultPolicy;
    }
    const [policyId, versionText] = reference.split('@');
    const version = versionText === undefined ? undefined : Number(versionText);
    if (version !== undefined && !Number.isSafeInteger(version)) {
      throw badInput('policyId is `id` or `id@version`', { field: 'policyId' });
    }
    const row = await this.prisma.compliancePolicy.findFirst({
      where: { organizationId, policyId, ...(version !== undefined ? { version } : {}) },
      orderBy: { version: 'desc' },
    });
    if (!row) throw badInput(`no compliance policy ${reference}`, { field: 'policyId' });
    return {
      policyId: row.policyId,
      version: row.version,
      document: parsePolicyDocument(row.document),
    };
  }
}
