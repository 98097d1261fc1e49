import type { Principal } from '../../../platform/auth/principal.ts';
import { isRole, roleAtLeast } from '../../../platform/auth/roles.ts';
import { badInput, conflict, DomainError, forbidden, notFound } from '../../../platform/errors.ts';
import { isUuid } from '../../../platform/ids.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { ObjectStore } from '../../../platform/objects/index.ts';
import type { Prisma, PrismaClient } from '../../../generated/prisma/documents/client.ts';
import { accessTo, actorOf, readableWhere, type Access } from './access.ts';
import { normaliseTags, normaliseTitle, validateMetadata, type DocumentKind } from './metadata.ts';

/** A document as the resolvers return it: the row, its grants, and the caller's access. */
export type DocumentView = Prisma.DocumentGetPayload<{ include: { grants: true } }> & {
  access: Access;
};

/** A version as `versions` returns it. */
export type DocumentVersionWithFiles = Prisma.DocumentVersionGetPayload<{
  include: { files: true };
}>;

export interface DocumentChanges {
  title?: string | null;
  tags?: readonly string[] | null;
  metadata?: unknown;
  visibility?: 'ORGANIZATION' | 'RESTRICTED' | null;
}

const dayMs = 24 * 3600 * 1000;

/** The expected version was not the current one: nothing changed. */
export function versionConflict(currentVersion: number, expectedVersion: number): DomainError {
  return new DomainError(
    'CONFLICT',
    `the document is at version ${currentVersion}, not ${expectedVersion}; read it again and retry`,
    { reason: 'VERSION_MISMATCH', currentVersion },
  );
}

/**
 * Documents of the caller's organization: every read and write here filters by the token's
 * organization and applies the per-document access rules (`access.ts`) itself.
 */
export class DocumentService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly objects: ObjectStore,
    private readonly options: { restoreDays: number; logger: Logger },
  ) {}

  /** The document if the caller may read it (deleted ones only when asked for), else null. */
  async find(
    principal: Principal,
    id: string,
    options: { includeDeleted?: boolean } = {},
  ): Promise<DocumentView | null> {
    if (!isUuid(id)) return null;
    const row = await this.prisma.document.findFirst({
      where: {
        id,
        organizationId: principal.organizationId,
        ...(options.includeDeleted ? {} : { deletedAt: null }),
      },
      include: { grants: true },
    });
    if (!row) return null;
    const access = accessTo(principal, row);
    return access ? { ...row, access } : null;
  }

  /**
   * The report document of an attestation (`hardware-attestation:<id>`), if the caller may read
   * it. The lookup is inside the caller's organization, so a foreign attestation finds nothing.
   */
  async findBySubject(principal: Principal, subject: string): Promise<DocumentView | null> {
    const document = await this.prisma.document.findFirst({
      where: { organizationId: principal.organizationId, subject, deletedAt: null },
      select: { id: true },
    });
    return document ? this.find(principal, document.id) : null;
  }

  /** The document for a change: NOT_FOUND when unreadable, FORBIDDEN when read-only. */
  async writable(
    principal: Principal,
    id: string,
    options: { includeDeleted?: boolean } = {},
  ): Promise<DocumentView> {
    const found = await this.find(principal, id, options);
    if (!found) throw notFound('Document');
    if (found.access !== 'WRITE') {
      throw forbidden('You may read this document but not change it; ask for write access');
    }
    return found;
  }

  /** A page of readable documents, newest first, by the filter's kind/tags/text/metadata. */
  list(
    principal: Principal,
    filter: {
      kind?: DocumentKind | null;
      tags?: readonly string[] | null;
      text?: string | null;
      metadata?: readonly { path: string; equals: unknown }[] | null;
      deleted?: boolean | null;
    },
    page: { take: number; after: { at: Date; id: string } | null },
  ) {
    const metadata = (filter.metadata ?? []).map(({ path, equals }) => {
      const segments = path.split('.');
      if (segments.length > 8 || segments.some((s) => s.length === 0 || s.length > 64)) {
        throw badInput(`metadata path ${JSON.stringify(path.slice(0, 80))} is not a field path`, {
          field: 'filter.metadata',
        });
      }
      return { metadata: { path: segments, equals: equals as Prisma.InputJsonValue } };
    });
    if ((filter.text?.length ?? 0) > 200) {
      throw badInput('text is at most 200 characters', { field: 'filter.text' });
    }
    const where: Prisma.DocumentWhereInput = {
      AND: [
        readableWhere(principal),
        filter.deleted ? { deletedAt: { not: null } } : { deletedAt: null },
        filter.kind ? { kind: filter.kind } : {},
        filter.tags?.length ? { tags: { hasEvery: [...filter.tags] } } : {},
        filter.text ? { title: { contains: filter.text, mode: 'insensitive' } } : {},
        ...metadata,
        page.after
          ? {
              OR: [
                { createdAt: { lt: page.after.at } },
                { createdAt: page.after.at, id: { lt: page.after.id } },
              ],
            }
          : {},
      ],
    };
    return this.prisma.document
      .findMany({
        where,
        include: { grants: true },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: page.take + 1,
      })
      .then((rows) =>
        rows.map((row) => ({ ...row, access: accessTo(principal, row) ?? ('READ' as const) })),
      );
  }

  /** Creates a document at version 1 without files. */
  async create(
    principal: Principal,
    input: {
      kind: DocumentKind;
      title: string;
      tags?: readonly string[] | null;
      metadata?: unknown;
      visibility?: 'ORGANIZATION' | 'RESTRICTED' | null;
    },
  ): Promise<DocumentView> {
    if (input.kind === 'ATTESTATION_REPORT') {
      throw badInput('ATTESTATION_REPORT documents are generated by the platform', {
        field: 'kind',
      });
    }
    const title = normaliseTitle(input.title);
    const tags = normaliseTags(input.tags ?? []);
    const metadata = validateMetadata(input.kind, input.metadata ?? {}) as Prisma.InputJsonValue;
    const actor = actorOf(principal);
    const created = await this.prisma.document.create({
      data: {
        organizationId: principal.organizationId,
        kind: input.kind,
        title,
        tags,
        metadata,
        visibility: input.visibility ?? 'ORGANIZATION',
        createdBy: actor,
        versions: {
          create: { version: 1, title, tags, metadata, change: 'created', createdBy: actor },
        },
      },
      include: { grants: true },
    });
    return { ...created, access: 'WRITE' };
  }

  /** A new version with the changed fields and the previous version's files. */
  async update(
    principal: Principal,
    id: string,
    expectedVersion: number,
    changes: DocumentChanges,
  ): Promise<DocumentView> {
    const current = await this.writable(principal, id);
    if (current.kind === 'ATTESTATION_REPORT' && changes.metadata != null) {
      throw badInput('a report’s metadata is the platform’s; change its title or tags', {
        field: 'metadata',
      });
    }
    const title = changes.title != null ? normaliseTitle(changes.title) : current.title;
    const tags = changes.tags != null ? normaliseTags(changes.tags) : current.tags;
    const metadata = (
      changes.metadata != null ? validateMetadata(current.kind, changes.metadata) : current.metadata
    ) as Prisma.InputJsonValue;
    const visibility = changes.visibility ?? current.visibility;
    await this.newVersion(principal.organizationId, id, expectedVersion, {
      fields: { title, tags, metadata, visibility },
      change: 'updated',
      actor: actorOf(principal),
      files: 'keep',
    });
    return this.writable(principal, id);
  }

  /**
   * Moves the document from `expectedVersion` to the next in one transaction: the conditional
   * update is the optimistic lock (a concurrent change makes it match nothing), then the version
   * row and its files. CONFLICT names the current version; nothing is written then.
   */
  async newVersion(
    organizationId: string,
    id: string,
    expectedVersion: number,
    change: {
      fields: {
        title: string;
        tags: string[];
        metadata: Prisma.InputJsonValue;
        visibility?: 'ORGANIZATION' | 'RESTRICTED';
      };
      change: string;
      actor: string;
      files: 'keep' | Prisma.DocumentFileCreateManyVersionInput[];
    },
    tx?: Prisma.TransactionClient,
  ): Promise<number> {
    const run = async (client: Prisma.TransactionClient): Promise<number> => {
      const bumped = await client.document.updateMany({
        where: { id, organizationId, version: expectedVersion, deletedAt: null },
        data: {
          ...change.fields,
          version: { increment: 1 },
          updatedAt: new Date(),
        },
      });
      if (bumped.count === 0) {
        const now = await client.document.findFirst({ where: { id, organizationId } });
        if (!now) throw notFound('Document');
        if (now.deletedAt) throw conflict('the document is deleted; restore it first', 'DELETED');
        throw versionConflict(now.version, expectedVersion);
      }
      const version = expectedVersion + 1;
      const files =
        change.files === 'keep'
          ? (
              await client.documentFile.findMany({
                where: { version: { documentId: id, version: expectedVersion } },
              })
            ).map(({ name, contentType, sizeBytes, sha256, objectKey }) => ({
              name,
              contentType,
              sizeBytes,
              sha256,
              objectKey,
            }))
          : change.files;
      await client.documentVersion.create({
        data: {
          documentId: id,
          version,
          title: change.fields.title,
          tags: change.fields.tags,
          metadata: change.fields.metadata,
          change: change.change,
          createdBy: change.actor,
          files: { createMany: { data: files } },
        },
      });
      return version;
    };
    return tx ? run(tx) : this.prisma.$transaction(run);
  }

  /** The current version's files. */
  currentFiles(document: { id: string; version: number }) {
    return this.prisma.documentFile.findMany({
      where: { version: { documentId: document.id, version: document.version } },
      orderBy: { name: 'asc' },
    });
  }

  /** Every version, newest first, with its files. */
  versions(documentId: string) {
    return this.prisma.documentVersion.findMany({
      where: { documentId },
      include: { files: { orderBy: { name: 'asc' } } },
      orderBy: { version: 'desc' },
    });
  }

  /** A signed link to one stored file, named as the file for the browser's download. */
  async downloadUrl(file: { objectKey: string; name: string }): Promise<string> {
    const { url } = await this.objects.presignDownload(file.objectKey, { filename: file.name });
    return url;
  }

  /** Shares with a member or a role; sharing again with the same one replaces its access. */
  async share(
    principal: Principal,
    input: { documentId: string; userId?: string | null; role?: string | null; access: Access },
    isMember: (userId: string) => Promise<boolean>,
  ) {
    const document = await this.writable(principal, input.documentId);
    const { userId = null, role = null } = input;
    if ((userId === null) === (role === null)) {
      throw badInput('give exactly one of userId and role', { field: 'userId' });
    }
    if (role !== null && (!isRole(role) || role === 'OWNER')) {
      throw badInput('role must be VIEWER, AUDITOR, OPERATOR or ADMIN', { field: 'role' });
    }
    if (userId !== null && (!isUuid(userId) || !(await isMember(userId)))) {
      throw badInput('userId is not a member of this organization', { field: 'userId' });
    }
    const existing = await this.prisma.documentGrant.findFirst({
      where: { documentId: document.id, userId, role },
    });
    if (existing) {
      return this.prisma.documentGrant.update({
        where: { id: existing.id },
        data: { access: input.access, grantedBy: actorOf(principal) },
      });
    }
    return this.prisma.documentGrant.create({
      data: {
        documentId: document.id,
        userId,
        role,
        access: input.access,
        grantedBy: actorOf(principal),
      },
    });
  }

  /** Removes a grant of a document the caller may change; false when there is none. */
  async revoke(principal: Principal, grantId: string): Promise<boolean> {
    if (!isUuid(grantId)) return false;
    const grant = await this.prisma.documentGrant.findFirst({
      where: { id: grantId, document: { organizationId: principal.organizationId } },
    });
    if (!grant) return false;
    await this.writable(principal, grant.documentId, { includeDeleted: true });
    const removed = await this.prisma.documentGrant.deleteMany({ where: { id: grantId } });
    return removed.count > 0;
  }

  /** Soft delete; refused while a legal hold is on. */
  async remove(principal: Principal, id: string): Promise<DocumentView> {
    const document = await this.writable(principal, id);
    const updated = await this.prisma.document.updateMany({
      where: { id: document.id, organizationId: principal.organizationId, legalHold: false },
      data: { deletedAt: new Date(), deletedBy: actorOf(principal) },
    });
    if (updated.count === 0) {
      throw conflict('the document is under legal hold and cannot be deleted', 'LEGAL_HOLD');
    }
    return this.writable(principal, id, { includeDeleted: true });
  }

  /** Undoes a soft delete inside the restore window. */
  async restore(principal: Principal, id: string): Promise<DocumentView> {
    const document = await this.writable(principal, id, { includeDeleted: true });
    if (!document.deletedAt) return document;
    if (document.deletedAt.getTime() + this.options.restoreDays * dayMs < Date.now()) {
      throw conflict(
        `the restore window of ${this.options.restoreDays} days has passed`,
        'RESTORE_WINDOW_PASSED',
      );
    }
    await this.prisma.document.update({
      where: { id: document.id },
      data: { deletedAt: null, deletedBy: null },
    });
    return this.writable(principal, id);
  }

  /** Puts a legal hold on or takes it off (ADMIN and above, checked by the schema directive). */
  async setLegalHold(
    principal: Principal,
    input: { id: string; hold: boolean; reason?: string | null },
  ): Promise<DocumentView> {
    if (!roleAtLeast(principal.role, 'ADMIN')) throw forbidden('Legal holds need ADMIN');
    const document = await this.writable(principal, input.id, { includeDeleted: true });
    const reason = input.reason?.trim() ?? '';
    if (input.hold && (reason.length === 0 || reason.length > 500)) {
      throw badInput('a legal hold needs a reason of 1–500 characters', { field: 'reason' });
    }
    await this.prisma.document.update({
      where: { id: document.id },
      data: { legalHold: input.hold, legalHoldReason: input.hold ? reason : null },
    });
    return this.writable(principal, input.id, { includeDeleted: true });
  }

  /** When a deleted document is purged. */
  restorableUntil(document: { deletedAt: Date | null }): Date | null {
    return document.deletedAt
      ? new Date(document.deletedAt.getTime() + this.options.restoreDays * dayMs)
      : null;
  }

  /**
   * Purges documents deleted longer ago than the restore window and not on hold: the row, then
   * its files (a crash in between leaves orphaned objects, never a held document without files).
   */
  async purgeExpired(limit = 100): Promise<number> {
    const before = new Date(Date.now() - this.options.restoreDays * dayMs);
    const expired = await this.prisma.document.findMany({
      where: { deletedAt: { lt: before }, legalHold: false },
      select: { id: true, versions: { select: { files: { select: { objectKey: true } } } } },
      take: limit,
    });
    let purged = 0;
    for (const document of expired) {
      // The row goes first, conditionally: a hold put on since the read keeps everything.
      const removed = await this.prisma.document.deleteMany({
        where: { id: document.id, legalHold: false, deletedAt: { lt: before } },
      });
      if (removed.count === 0) continue;
      purged += 1;
      const keys = new Set(document.versions.flatMap((v) => v.files.map((f) => f.objectKey)));
      for (const key of keys) {
        await this.objects
          .delete(key)
          .catch((err: unknown) =>
            this.options.logger.warn({ err, key }, 'a purged document left an object behind'),
          );
      }
    }
    if (purged > 0) this.options.logger.info({ documents: purged }, 'purged deleted documents');
    return purged;
  }
}
