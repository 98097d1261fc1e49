import type { Principal } from '../../../platform/auth/principal.ts';
import { badInput, conflict, notFound } from '../../../platform/errors.ts';
import { isUuid } from '../../../platform/ids.ts';
import type { ObjectStore } from '../../../platform/objects/index.ts';
import { Prisma, type PrismaClient } from '../../../generated/prisma/model-attestation/client.ts';
import type { AuditChain } from './audit-chain.ts';

/** Single PUT uploads up to this size; larger files go through a multipart upload. */
export const SINGLE_UPLOAD_MAX_BYTES = 100 * 1000 * 1000;
/** The largest model file accepted (S3's multipart limit is 5 TiB; this is a sane bound). */
export const MODEL_FILE_MAX_BYTES = 1024 ** 4;

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/;
const versionPattern = /^[A-Za-z0-9][A-Za-z0-9._\-+]{0,99}$/;

/** How a caller is named in audit entries and rows: `user:<id>` or `apikey:<id>`. */
export function actorOf(principal: Principal): string {
  return principal.apiKeyId
    ? `apikey:${principal.apiKeyId}`
    : `user:${principal.userId ?? principal.subject}`;
}

/**
 * A file path inside a model as signatures name it: relative, `/`-separated, no `.`/`..` or
 * empty segments, no control characters or backslashes, at most 1,024 bytes.
 */
export function validateModelPath(raw: string): string {
  const path = raw.normalize('NFC');
  const segments = path.split('/');
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u001f\u007f\\]/.test(path);
  if (
    bad ||
    path.length === 0 ||
    Buffer.byteLength(path) > 1024 ||
    segments.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw badInput(
      `path ${JSON.stringify(path.slice(0, 80))} must be a relative /-separated file path without . or .. segments`,
      { field: 'path' },
    );
  }
  return path;
}

/** The object key of a model file: one per version and path. */
export function modelObjectKey(organizationId: string, modelVersionId: string, path: string) {
  return `models/${organizationId}/${modelVersionId}/${path}`;
}

/**
 * Models, their versions and files, always inside the caller's organization. Uploads go straight
 * to the object store through signed URLs; completing one checks the stored size.
 */
export class ModelService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly objects: ObjectStore,
    private readonly audit: AuditChain,
    private readonly options: { ttlSeconds: number },
  ) {}

  async register(
    principal: Principal,
    input: { name: string; version: string; license: string; format: string; modelCard?: unknown },
  ) {
    const name = input.name.trim();
    const version = input.version.trim();
    if (!namePattern.test(name)) {
      throw badInput('name must be 1–200 letters, digits, ., _, - or /', { field: 'name' });
    }
    if (!versionPattern.test(version)) {
      throw badInput('version must be 1–100 letters, digits, ., _, - or +', { field: 'version' });
    }
    const license = input.license.trim();
    if (license.length === 0 || license.length > 100) {
      throw badInput('license must be 1–100 characters', { field: 'license' });
    }
    const format = input.format.trim().toLowerCase();
    if (!/^[a-z0-9._-]{1,40}$/.test(format)) {
      throw badInput('format must be a short name such as safetensors or gguf', {
        field: 'format',
      });
    }
    const card = input.modelCard ?? {};
    if (typeof card !== 'object' || card === null || Array.isArray(card)) {
      throw badInput('modelCard must be a JSON object', { field: 'modelCard' });
    }
    if (Buffer.byteLength(JSON.stringify(card)) > 64 * 1024) {
      throw badInput('modelCard is larger than 64 KiB', { field: 'modelCard' });
    }
    const actor = actorOf(principal);
    try {
      return await this.prisma.$transaction(async (tx) => {
        const model = await tx.model.upsert({
          where: { organizationId_name: { organizationId: principal.organizationId, name } },
          create: { organizationId: principal.organizationId, name },
          update: {},
        });
        const created = await tx.modelVersion.create({
          data: {
            organizationId: principal.organizationId,
            modelId: model.id,
            version,
            license,
            format,
            modelCard: card,
            createdBy: actor,
          },
        });
        await this.audit.append(
          principal.organizationId,
          {
            action: 'model.registered',
            actor,
            subjectType: 'model-version',
            subjectId: created.id,
            detail: { name, version, license, format },
          },
          tx,
        );
        return created;
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        throw conflict(`${name} version ${version} is registered already`, 'VERSION_EXISTS');
      }
      throw error;
    }
  }

  /** A version of the caller's organization, or null. */
  findVersion(principal: Principal, id: string) {
    if (!isUuid(id)) return Promise.resolve(null);
    return this.prisma.modelVersion.findFirst({
      where: { id, organizationId: principal.organizationId },
    });
  }

  private async version(principal: Principal, id: string) {
    const found = await this.findVersion(principal, id);
    if (!found) throw notFound('Model version');
    return found;
  }

  /** Records the upload a signed URL is for (one per path; asking again replaces it). */
  private async openUpload(
    principal: Principal,
    input: { modelVersionId: string; path: string; sizeBytes: number },
    uploadId: string | null,
  ) {
    const version = await this.version(principal, input.modelVersionId);
    const path = validateModelPath(input.path);
    if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes < 0) {
      throw badInput('sizeBytes must be a whole number of bytes', { field: 'sizeBytes' });
    }
    if (input.sizeBytes > MODEL_FILE_MAX_BYTES) {
      throw badInput(`a model file may be at most ${MODEL_FILE_MAX_BYTES} bytes`, {
        field: 'sizeBytes',
      });
    }
    const objectKey = modelObjectKey(principal.organizationId, version.id, path);
    await this.prisma.modelFile.upsert({
      where: { modelVersionId_path: { modelVersionId: version.id, path } },
      create: {
        modelVersionId: version.id,
        path,
        declaredBytes: BigInt(input.sizeBytes),
        objectKey,
        uploadId,
      },
      update: {
        declaredBytes: BigInt(input.sizeBytes),
        uploadId,
        uploadedAt: null,
        sizeBytes: null,
      },
    });
    return { objectKey, path };
  }

  async requestUpload(
    principal: Principal,
    input: { modelVersionId: string; path: string; sizeBytes: number },
  ) {
    if (input.sizeBytes > SINGLE_UPLOAD_MAX_BYTES) {
      throw badInput(
        `files over ${SINGLE_UPLOAD_MAX_BYTES} bytes are uploaded in parts: use requestModelMultipartUpload`,
        { field: 'sizeBytes' },
      );
    }
    const { objectKey } = await this.openUpload(principal, input, null);
    return this.objects.presignUpload(objectKey, {
      maxBytes: input.sizeBytes,
      expiresInSeconds: this.options.ttlSeconds,
    });
  }

  async requestMultipartUpload(
    principal: Principal,
    input: { modelVersionId: string; path: string; sizeBytes: number },
  ) {
    if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes < 1) {
      throw badInput('sizeBytes must be a whole number of bytes, at least 1', {
        field: 'sizeBytes',
      });
    }
    await this.version(principal, input.modelVersionId);
    const objectKey = modelObjectKey(
      principal.organizationId,
      input.modelVersionId,
      validateModelPath(input.path),
    );
    const presigned = await this.objects.presignMultipartUpload(objectKey, {
      sizeBytes: input.sizeBytes,
      expiresInSeconds: this.options.ttlSeconds,
    });
    await this.openUpload(principal, input, presigned.uploadId);
    return {
      uploadId: presigned.uploadId,
      partSize: presigned.partSize,
      parts: presigned.parts.map((part) => ({
        url: part.url,
        method: part.method,
        headers: part.headers,
        expiresAt: presigned.expiresAt,
      })),
      expiresAt: presigned.expiresAt,
    };
  }

  /** Checks the stored object against the declared size and records the file. */
  async completeUpload(
    principal: Principal,
    input: {
      modelVersionId: string;
      path: string;
      parts?: readonly { partNumber: number; etag: string }[] | null;
    },
  ) {
    const version = await this.version(principal, input.modelVersionId);
    const path = validateModelPath(input.path);
    const file = await this.prisma.modelFile.findUnique({
      where: { modelVersionId_path: { modelVersionId: version.id, path } },
    });
    if (!file) throw notFound('Upload');
    if (file.uploadId) {
      if (!input.parts?.length) {
        throw badInput('a multipart upload completes with its parts and their ETags', {
          field: 'parts',
        });
      }
      try {
        await this.objects.completeMultipartUpload(file.objectKey, file.uploadId, [...input.parts]);
      } catch (error) {
        throw badInput(
          `the parts could not be assembled: ${error instanceof Error ? error.message : String(error)}`,
          { field: 'parts' },
        );
      }
    }
    const head = await this.objects.head(file.objectKey);
    if (!head) throw badInput('nothing was uploaded for this path yet', { field: 'path' });
    if (BigInt(head.sizeBytes) !== file.declaredBytes) {
      await this.objects.delete(file.objectKey);
      await this.prisma.modelFile.delete({ where: { id: file.id } });
      throw badInput(
        `the upload is ${head.sizeBytes} bytes but ${file.declaredBytes} were declared; it was removed`,
        { field: 'path', sizeBytes: head.sizeBytes },
      );
    }
    const updated = await this.prisma.$transaction(async (tx) => {
      const row = await tx.modelFile.update({
        where: { id: file.id },
        data: { sizeBytes: BigInt(head.sizeBytes), uploadedAt: new Date(), uploadId: null },
      });
      await this.audit.append(
        principal.organizationId,
        {
          action: 'model.file.uploaded',
          actor: actorOf(principal),
          subjectType: 'model-version',
          subjectId: version.id,
          detail: { path, sizeBytes: head.sizeBytes },
        },
        tx,
      );
      return row;
    });
    return { path: updated.path, sizeBytes: head.sizeBytes, sha256: '' };
  }

  /** The completed files of a version, by path. */
  uploadedFiles(modelVersionId: string) {
    return this.prisma.modelFile.findMany({
      where: { modelVersionId, uploadedAt: { not: null } },
      orderBy: { path: 'asc' },
    });
  }
}
