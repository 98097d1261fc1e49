import { createHash } from 'node:crypto';
import type { Principal } from '../../../platform/auth/principal.ts';
import { badInput, conflict, notFound } from '../../../platform/errors.ts';
import { isUuid } from '../../../platform/ids.ts';
import type { ObjectStore } from '../../../platform/objects/index.ts';
import type { PrismaClient } from '../../../generated/prisma/documents/client.ts';
import { actorOf } from './access.ts';
import type { DocumentService, DocumentView } from './documents.ts';

// A MIME type as RFC 6838 names them, with optional parameters (`text/plain; charset=utf-8`).
const mimeType =
  /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;\s*[a-z0-9-]+=[a-z0-9._-]+)*$/i;
const sha256Hex = /^[0-9a-f]{64}$/;

/** A file name as downloads show it: no path, no control characters, 1–255 characters. */
function fileNameOf(raw: string): string {
  const name = raw.trim();
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > 255 || /[\u0000-\u001f\u007f/\\]/.test(name)) {
    throw badInput('fileName must be 1–255 characters without slashes or control characters', {
      field: 'fileName',
    });
  }
  if (name === '.' || name === '..') throw badInput('fileName is not a file name');
  return name;
}

/**
 * Uploads through signed URLs: the client gets a URL for one object key per upload, PUTs the
 * bytes there (never through the GraphQL server), then completes the upload, which checks and
 * hashes what arrived and makes it a version.
 */
export class UploadService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly objects: ObjectStore,
    private readonly documents: DocumentService,
    private readonly options: { maxBytes: number; ttlSeconds: number },
  ) {}

  async request(
    principal: Principal,
    input: { documentId: string; fileName: string; contentType: string; sizeBytes: number },
  ) {
    const document = await this.documents.writable(principal, input.documentId);
    if (document.kind === 'ATTESTATION_REPORT') {
      throw badInput('report files are generated; use regenerateAttestationReport', {
        field: 'documentId',
      });
    }
    const fileName = fileNameOf(input.fileName);
    if (!mimeType.test(input.contentType)) {
      throw badInput('contentType must be a MIME type such as application/pdf', {
        field: 'contentType',
      });
    }
    if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes < 1) {
      throw badInput('sizeBytes must be a whole number of bytes, at least 1', {
        field: 'sizeBytes',
      });
    }
    if (input.sizeBytes > this.options.maxBytes) {
      throw badInput(
        `the file is ${input.sizeBytes} bytes; documents take at most ${this.options.maxBytes}`,
        { field: 'sizeBytes', maxBytes: this.options.maxBytes },
      );
    }
    const upload = await this.prisma.documentUpload.create({
      data: {
        organizationId: principal.organizationId,
        documentId: document.id,
        objectKey: '',
        fileName,
        contentType: input.contentType,
        maxBytes: BigInt(input.sizeBytes),
        createdBy: actorOf(principal),
        expiresAt: new Date(Date.now() + this.options.ttlSeconds * 1000),
      },
    });
    const objectKey = `documents/${principal.organizationId}/${document.id}/${upload.id}`;
    await this.prisma.documentUpload.update({ where: { id: upload.id }, data: { objectKey } });
    const target = await this.objects.presignUpload(objectKey, {
      contentType: input.contentType,
      maxBytes: input.sizeBytes,
      expiresInSeconds: this.options.ttlSeconds,
    });
    return { id: upload.id, documentId: document.id, target, expiresAt: target.expiresAt };
  }

  /**
   * Hashes the uploaded bytes (the store's, not the client's word), checks them against the
   * declared size and `sha256`, and adds the version. Refusals leave the upload open, so the
   * client can PUT again until it expires.
   */
  async complete(
    principal: Principal,
    input: { uploadId: string; expectedVersion: number; sha256?: string | null },
  ): Promise<DocumentView> {
    if (!isUuid(input.uploadId)) throw notFound('Upload');
    const upload = await this.prisma.documentUpload.findFirst({
      where: { id: input.uploadId, organizationId: principal.organizationId },
    });
    if (!upload) throw notFound('Upload');
    await this.documents.writable(principal, upload.documentId);
    if (upload.completedAt) throw conflict('this upload was completed already', 'COMPLETED');
    if (upload.expiresAt.getTime() < Date.now()) {
      throw conflict('this upload expired; request a new one', 'UPLOAD_EXPIRED');
    }
    if (input.sha256 != null && !sha256Hex.test(input.sha256)) {
      throw badInput('sha256 must be 64 lowercase hex digits', { field: 'sha256' });
    }
    const head = await this.objects.head(upload.objectKey);
    if (!head) {
      throw badInput('nothing was uploaded to this upload’s URL yet', { field: 'uploadId' });
    }
    if (head.sizeBytes > Number(upload.maxBytes)) {
      // S3 presigned PUTs cannot carry a size limit: the check is here.
      await this.objects.delete(upload.objectKey);
      throw badInput(
        `the upload is ${head.sizeBytes} bytes, more than the ${upload.maxBytes} requested`,
        { field: 'uploadId' },
      );
    }
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of await this.objects.get(upload.objectKey)) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      size += bytes.length;
    }
    const sha256 = hash.digest('hex');
    if (input.sha256 != null && input.sha256 !== sha256) {
      throw badInput(`the stored file’s SHA-256 is ${sha256}, not ${input.sha256}`, {
        field: 'sha256',
        sha256,
      });
    }
    await this.prisma.$transaction(async (tx) => {
      const claimed = await tx.documentUpload.updateMany({
        where: { id: upload.id, completedAt: null },
        data: { completedAt: new Date() },
      });
      if (claimed.count === 0) throw conflict('this upload was completed already', 'COMPLETED');
      const current = await tx.document.findFirstOrThrow({ where: { id: upload.documentId } });
      await this.documents.newVersion(
        principal.organizationId,
        upload.documentId,
        input.expectedVersion,
        {
          fields: {
            title: current.title,
            tags: current.tags,
            metadata: current.metadata as object,
          },
          change: 'file uploaded',
          actor: actorOf(principal),
          files: [
            {
              name: upload.fileName,
              contentType: upload.contentType,
              sizeBytes: BigInt(size),
              sha256,
              objectKey: upload.objectKey,
            },
          ],
        },
        tx,
      );
    });
    return this.documents.writable(principal, upload.documentId);
  }

  /** Removes uploads that expired without being completed, and their objects. */
  async removeExpired(limit = 100): Promise<number> {
    const expired = await this.prisma.documentUpload.findMany({
      where: { completedAt: null, expiresAt: { lt: new Date() } },
      take: limit,
    });
    for (const upload of expired) {
      await this.objects.delete(upload.objectKey);
      await this.prisma.documentUpload.delete({ where: { id: upload.id } });
    }
    return expired.length;
  }
}
