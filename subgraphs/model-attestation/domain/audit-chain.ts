import { createHash } from 'node:crypto';
import { CompactSign } from 'jose';
import type { SigningKeyRing } from '../../../platform/auth/key-ring.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { ObjectStore } from '../../../platform/objects/index.ts';
import type { Prisma, PrismaClient } from '../../../generated/prisma/model-attestation/client.ts';

/** The hash before an organization's first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller records; the chain adds sequence, time and hashes. */
export interface AuditRecord {
  action: string;
  actor: string;
  subjectType: string;
  subjectId: string;
  detail?: Record<string, unknown>;
}

/** A stored link of the chain. */
export interface AuditLink {
  organizationId: string;
  seq: number;
  action: string;
  actor: string;
  subjectType: string;
  subjectId: string;
  detail: unknown;
  at: Date;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted at every depth: the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The hash of one link: SHA-256 over the previous hash and every field, canonically encoded. */
export function linkHash(link: Omit<AuditLink, 'hash'>): string {
  return createHash('sha256')
    .update(
      canonicalJson([
        'lotabots-audit/v1',
        link.prevHash,
        link.organizationId,
        link.seq,
        link.action,
        link.actor,
        link.subjectType,
        link.subjectId,
        link.detail ?? null,
        link.at.toISOString(),
      ]),
    )
    .digest('hex');
}

/** What `verify` found: either the whole chain holds, or the first link that does not. */
export interface ChainVerification {
  valid: boolean;
  entries: number;
  headHash: string;
  brokenAtSeq: number | null;
  reason: string | null;
}

/**
 * The tamper-evident audit trail: per organization, entry n's hash covers entry n−1's hash, so
 * changing, removing or reordering any stored entry breaks every later link. Appends take a
 * transaction-scoped advisory lock per organization, so replicas extend one chain, never fork it.
 */
export class AuditChain {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: { keys: SigningKeyRing; objects: ObjectStore; logger: Logger },
  ) {}

  /** Appends inside `tx` when given (so the entry commits with the change it records). */
  async append(
    organizationId: string,
    record: AuditRecord,
    tx?: Prisma.TransactionClient,
  ): Promise<AuditLink> {
    const run = async (client: Prisma.TransactionClient): Promise<AuditLink> => {
      await client.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`audit:${organizationId}`}))`;
      const last = await client.auditEntry.findFirst({
        where: { organizationId },
        orderBy: { seq: 'desc' },
        select: { seq: true, hash: true },
      });
      const base = {
        organizationId,
        seq: (last?.seq ?? 0) + 1,
        action: record.action,
        actor: record.actor,
        subjectType: record.subjectType,
        subjectId: record.subjectId,
        detail: JSON.parse(canonicalJson(record.detail ?? {})) as Prisma.InputJsonValue,
        // Millisecond precision: what the database keeps is what the hash covers.
        at: new Date(Math.floor(Date.now())),
        prevHash: last?.hash ?? GENESIS_HASH,
      };
      const link = { ...base, hash: linkHash(base) };
      await client.auditEntry.create({ data: link });
      return link;
    };
    return tx ? run(tx) : this.prisma.$transaction(run);
  }

  /** Entries of one subject (an attestation, a model version), oldest first. */
  forSubject(organizationId: string, subjectType: string, subjectId: string) {
    return this.prisma.auditEntry.findMany({
      where: { organizationId, subjectType, subjectId },
      orderBy: { seq: 'asc' },
    });
  }

  /**
   * Recomputes the organization's chain from its first entry and names the first link whose
   * sequence, previous hash or own hash does not hold. Reads in pages: chains grow without bound.
   */
  async verify(organizationId: string): Promise<ChainVerification> {
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    let entries = 0;
    for (;;) {
      const page = await this.prisma.auditEntry.findMany({
        where: { organizationId, seq: { gte: expectedSeq } },
        orderBy: { seq: 'asc' },
        take: 1000,
      });
      if (page.length === 0) break;
      for (const entry of page) {
        const broken = (reason: string): ChainVerification => ({
          valid: false,
          entries,
          headHash: prevHash,
          brokenAtSeq: expectedSeq,
          reason,
        });
        if (entry.seq !== expectedSeq) {
          return broken(`entry ${expectedSeq} is missing (the next stored is ${entry.seq})`);
        }
        if (entry.prevHash !== prevHash) {
          return broken(`entry ${entry.seq} does not point at entry ${entry.seq - 1}'s hash`);
        }
        if (linkHash(entry) !== entry.hash) {
          return broken(`entry ${entry.seq} was changed after it was written (hash mismatch)`);
        }
        prevHash = entry.hash;
        expectedSeq += 1;
        entries += 1;
      }
    }
    const checkpoint = await this.prisma.auditCheckpoint.findFirst({
      where: { organizationId },
      orderBy: { seq: 'desc' },
    });
    // Entries removed from the end leave a valid-looking shorter chain; a checkpoint beyond it or
    // with another hash at its sequence gives that away.
    if (checkpoint && checkpoint.seq > entries) {
      return {
        valid: false,
        entries,
        headHash: prevHash,
        brokenAtSeq: entries + 1,
        reason: `checkpoint ${checkpoint.id} signed entry ${checkpoint.seq}, but the chain ends at ${entries}`,
      };
    }
    if (checkpoint) {
      const at = await this.prisma.auditEntry.findUnique({
        where: { organizationId_seq: { organizationId, seq: checkpoint.seq } },
      });
      if (at?.hash !== checkpoint.hash) {
        return {
          valid: false,
          entries,
          headHash: prevHash,
          brokenAtSeq: checkpoint.seq,
          reason: `entry ${checkpoint.seq} differs from the one checkpoint ${checkpoint.id} signed`,
        };
      }
    }
    return { valid: true, entries, headHash: prevHash, brokenAtSeq: null, reason: null };
  }

  /**
   * Signs the chain head (JWS with the platform key, `kid` in the JWKS) and stores it in the
   * object store and the database. Nothing happens when the head was checkpointed already.
   */
  async checkpoint(organizationId: string): Promise<{ seq: number; objectKey: string } | null> {
    const head = await this.prisma.auditEntry.findFirst({
      where: { organizationId },
      orderBy: { seq: 'desc' },
    });
    if (!head) return null;
    const last = await this.prisma.auditCheckpoint.findFirst({
      where: { organizationId },
      orderBy: { seq: 'desc' },
    });
    if (last && last.seq >= head.seq) return null;
    const key = await this.options.keys.signingKey();
    const payload = canonicalJson({
      type: 'lotabots/audit-checkpoint@1',
      organizationId,
      seq: head.seq,
      hash: head.hash,
      signedAt: new Date().toISOString(),
    });
    const jws = await new CompactSign(new TextEncoder().encode(payload))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'lotabots-audit-checkpoint+jws' })
      .sign(key.privateKey);
    const objectKey = `model-attestation/audit-checkpoints/${organizationId}/${String(head.seq).padStart(12, '0')}.jws`;
    await this.options.objects.put(objectKey, Buffer.from(jws), {
      contentType: 'application/jose',
    });
    await this.prisma.auditCheckpoint.create({
      data: { organizationId, seq: head.seq, hash: head.hash, jws, objectKey },
    });
    return { seq: head.seq, objectKey };
  }

  /** Checkpoints every organization whose chain moved since its last checkpoint. */
  async checkpointAll(): Promise<number> {
    const organizations = await this.prisma.auditEntry.findMany({
      distinct: ['organizationId'],
      select: { organizationId: true },
    });
    let written = 0;
    for (const { organizationId } of organizations) {
      try {
        if (await this.checkpoint(organizationId)) written += 1;
      } catch (err) {
        this.options.logger.warn({ err, organizationId }, 'audit checkpoint failed; will retry');
      }
    }
    return written;
  }
}
