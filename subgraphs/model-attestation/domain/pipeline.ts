import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { KeyObject, randomBytes } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { SigningKeyRing } from '../../../platform/auth/key-ring.ts';
import type { EventBus } from '../../../platform/events/index.ts';
import { modelAttestationStatusTopic } from '../../../platform/events/topics.ts';
import { JobLoop } from '../../../platform/jobs/job-loop.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { ObjectStore } from '../../../platform/objects/index.ts';
import type { Prisma, PrismaClient } from '../../../generated/prisma/model-attestation/client.ts';
import type { AuditChain } from './audit-chain.ts';
import { evaluateCompliance, verdictOf } from './compliance.ts';
import type { KeysAndPolicies } from './keys-and-policies.ts';
import { computeManifest, type Manifest, type ManifestFile } from './manifest/oms-manifest.ts';
import type { ByteSource } from './scan/byte-source.ts';
import type { Finding } from './scan/findings.ts';
import { scanModelFile } from './scan/index.ts';
import { signEnvelope } from './signing/dsse.ts';
import { verifyModelSignature } from './signing/model-signature.ts';

/** The in-toto predicate type of the platform's model attestation results. */
export const RESULT_PREDICATE_TYPE = 'https://lotabots.dev/attestation/model/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

interface Job {
  attestationId: string;
  attempts: number;
}

interface PipelineMetrics {
  finished: Counter<'status'>;
  duration: Histogram;
  hashedBytes: Counter;
}

function pipelineMetrics(registry: Registry): PipelineMetrics {
  return {
    finished: new Counter({
      name: 'lotabots_model_attestations_total',
      help: 'Model attestations finished, by final status.',
      labelNames: ['status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'lotabots_model_attestation_seconds',
      help: 'From claim to result of one model attestation.',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    hashedBytes: new Counter({
      name: 'lotabots_model_hashed_bytes_total',
      help: 'Bytes of model files hashed into manifests.',
      registers: [registry],
    }),
  };
}

/** A stored object as the scanners read it: only the ranges they ask for. */
export function objectByteSource(
  objects: ObjectStore,
  key: string,
  path: string,
  size: number,
): ByteSource {
  return {
    path,
    size,
    async read(start, end) {
      const chunks: Buffer[] = [];
      for await (const chunk of await objects.getRange(key, start, end)) {
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    },
  };
}

/** Shard sizes a signature may ask the manifest to be computed with (smaller ones cost too much). */
const MIN_SIGNED_SHARD = 1024 * 1024;
const MAX_SIGNED_SHARD = 16 * 1024 ** 3;

/**
 * The serialization a model.sig bundle was made with, so the manifest is computed the same way
 * (as the reference verifier does); null when the bundle does not say or asks for something out
 * of bounds — the default is then used and the signature check reports the difference.
 */
export function signedSerialization(
  bundle: unknown,
): { method: 'shards' | 'files'; shardSize?: number } | null {
  try {
    const envelope = (bundle as { dsseEnvelope?: { payload?: unknown } } | null)?.dsseEnvelope;
    if (typeof envelope?.payload !== 'string' || envelope.payload.length > 32 << 20) return null;
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
      predicate?: { serialization?: Record<string, unknown> };
    };
    const s = statement.predicate?.serialization;
    if (s?.method === 'files') return { method: 'files' };
    if (
      s?.method === 'shards' &&
      typeof s.shard_size === 'number' &&
      Number.isSafeInteger(s.shard_size) &&
      s.shard_size >= MIN_SIGNED_SHARD &&
      s.shard_size <= MAX_SIGNED_SHARD
    ) {
      return { method: 'shards', shardSize: s.shard_size };
    }
    return null;
  } catch {
    return null;
  }
}

/** The file path a manifest resource covers: `path:start:end` shards name their file first. */
export function resourcePath(name: string): string {
  const shard = /^(.*):(\d+):(\d+)$/.exec(name);
  return shard?.[1] ?? name;
}

/**
 * The manifest's resources as `ModelAttestation.files`: a file that is one whole shard is shown
 * by its path (its digest is then the file's SHA-256); a larger file's shards keep their
 * `path:start:end` names.
 */
export function manifestFiles(
  manifest: Manifest,
  files: { path: string; sizeBytes: number }[],
): { path: string; sizeBytes: number; sha256: string }[] {
  const sizes = new Map(files.map((f) => [f.path, f.sizeBytes]));
  return manifest.resources.map((resource) => {
    const shard = /^(.*):(\d+):(\d+)$/.exec(resource.name);
    if (!shard) {
      return {
        path: resource.name,
        sizeBytes: sizes.get(resource.name) ?? 0,
        sha256: resource.digest,
      };
    }
    const [, path = '', start = '0', end = '0'] = shard;
    const whole = start === '0' && sizes.get(path) === Number(end);
    return {
      path: whole ? path : resource.name,
      sizeBytes: Number(end) - Number(start),
      sha256: resource.digest,
    };
  });
}

function signatureFindings(
  result: ReturnType<typeof verifyModelSignature>,
  pinnedKeyId: string | null,
): Finding[] {
  const finding = (code: string, message: string, path = ''): Finding => ({
    severity: 'CRITICAL',
    code,
    message,
    path,
    offset: null,
  });
  if (result.status === 'INVALID') return [finding('SIGNATURE_INVALID', result.reason)];
  if (result.status === 'MISMATCH') {
    const out: Finding[] = [];
    const byFile = (names: string[]) => [...new Set(names.map(resourcePath))];
    for (const path of byFile(result.mismatched)) {
      out.push(finding('SIGNATURE_MISMATCH', `${path} differs from the signed file`, path));
    }
    for (const path of byFile(result.missing)) {
      out.push(finding('SIGNATURE_FILE_MISSING', `${path} is signed but not in the model`, path));
    }
    for (const path of byFile(result.extra)) {
      out.push(finding('SIGNATURE_FILE_UNSIGNED', `${path} is in the model but not signed`, path));
    }
    if (out.length === 0) out.push(finding('SIGNATURE_MISMATCH', result.reason));
    return out;
  }
  if (pinnedKeyId && result.keyid !== pinnedKeyId) {
    return [
      finding(
        'SIGNATURE_KEY_NOT_PINNED',
        `signed by key ${result.keyid ?? '(unknown)'}, but this model was first signed by ${pinnedKeyId}`,
      ),
    ];
  }
  return [];
}

/**
 * Model attestations as durable jobs: a worker on any replica claims one (lease, FOR UPDATE SKIP
 * LOCKED), hashes every file into an OMS v1.0 manifest in worker threads (progress on the
 * attestation), scans each file, verifies the signature against the organization's keys, applies
 * the compliance policy, and stores the verdict as an in-toto statement the platform signs in a
 * DSSE envelope. Failures retry with backoff, then end in ERROR.
 */
export class ModelAttestationPipeline {
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly loop: JobLoop<Job>;
  private readonly metrics: PipelineMetrics;

  constructor(
    private readonly deps: {
      prisma: PrismaClient;
      objects: ObjectStore;
      events: EventBus;
      audit: AuditChain;
      keysAndPolicies: KeysAndPolicies;
      resultKeys: SigningKeyRing;
      logger: Logger;
    },
    registry: Registry,
    private readonly options: {
      concurrency: number;
      leaseMs: number;
      maxAttempts: number;
      shardSize: number;
    },
  ) {
    this.metrics = pipelineMetrics(registry);
    this.loop = new JobLoop(
      { claim: (limit) => this.claim(limit), run: (job) => this.run(job) },
      {
        name: 'model attestation',
        concurrency: options.concurrency,
        pollMs: 1_000,
        logger: deps.logger,
      },
    );
  }

  start(): void {
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  stop(graceMs?: number): Promise<void> {
    return this.loop.stop(graceMs);
  }

  /**
   * Tells subscribers on every replica that an attestation changed. Final statuses carry the
   * result too (verdict, findings, envelope…), for consumers such as the report generator.
   */
  async announce(
    organizationId: string,
    id: string,
    status: string,
    result: Record<string, unknown> = {},
  ): Promise<void> {
    await this.deps.events
      .publish(modelAttestationStatusTopic, { ...result, organizationId, id, status })
      .catch((err: unknown) =>
        this.deps.logger.warn({ err, attestationId: id }, 'model attestation event not published'),
      );
  }

  private async claim(limit: number): Promise<Job[]> {
    const leaseSeconds = Math.ceil(this.options.leaseMs / 1000);
    return this.deps.prisma.$queryRaw<Job[]>`
      UPDATE "ModelAttestationJob" SET
        "lockedBy" = ${this.workerId},
        "lockedUntil" = (now() AT TIME ZONE 'UTC') + make_interval(secs => ${leaseSeconds}::int),
        attempts = attempts + 1
      WHERE "attestationId" IN (
        SELECT "attestationId" FROM "ModelAttestationJob"
        WHERE "doneAt" IS NULL AND "runAt" <= (now() AT TIME ZONE 'UTC')
          AND ("lockedUntil" IS NULL OR "lockedUntil" < (now() AT TIME ZONE 'UTC'))
        ORDER BY "runAt"
        LIMIT ${limit}::int
        FOR UPDATE SKIP LOCKED)
      RETURNING "attestationId"::text AS "attestationId", attempts`;
  }

  private async run(job: Job): Promise<void> {
    const log = this.deps.logger.child({
      modelAttestationId: job.attestationId,
      attempt: job.attempts,
    });
    const stop = this.metrics.duration.startTimer();
    try {
      await this.appraise(job, log);
    } catch (error) {
      await this.failed(job, error, log).catch((err: unknown) =>
        log.error({ err, cause: error }, 'model attestation job could not be put back'),
      );
    } finally {
      stop();
    }
  }

  private async appraise(job: Job, log: Logger): Promise<void> {
    const { prisma, objects } = this.deps;
    const attestation = await prisma.modelAttestation.findUniqueOrThrow({
      where: { id: job.attestationId },
    });
    if (!['PENDING', 'RUNNING'].includes(attestation.status)) {
      await this.release(job, { done: true });
      return;
    }
    const version = await prisma.modelVersion.findUniqueOrThrow({
      where: { id: attestation.modelVersionId },
      include: { model: true },
    });
    const organizationId = attestation.organizationId;
    if (attestation.status === 'PENDING') {
      await prisma.$transaction(async (tx) => {
        await tx.modelAttestation.update({
          where: { id: attestation.id },
          data: { status: 'RUNNING', startedAt: new Date() },
        });
        await this.deps.audit.append(
          organizationId,
          {
            action: 'attestation.status',
            actor: `worker:${this.workerId}`,
            subjectType: 'model-attestation',
            subjectId: attestation.id,
            detail: { status: 'RUNNING', attempt: job.attempts },
          },
          tx,
        );
      });
      await this.announce(organizationId, attestation.id, 'RUNNING');
    }

    const stored = await prisma.modelFile.findMany({
      where: { modelVersionId: version.id, uploadedAt: { not: null } },
      orderBy: { path: 'asc' },
    });
    const files: ManifestFile[] = stored.map((file) => ({
      path: file.path,
      size: Number(file.sizeBytes ?? 0n),
      // The manifest reads synchronously-opened streams; the store opens ranges asynchronously.
      open: (start: number, end: number) =>
        Readable.from(
          (async function* () {
            yield* await objects.getRange(file.objectKey, start, end);
          })(),
        ),
    }));
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    let lastProgress = 0;
    let lastHashed = 0;
    const serialization = signedSerialization(attestation.signatureBundle);
    const manifest: Manifest = await computeManifest(files, {
      method: serialization?.method ?? 'shards',
      shardSize: serialization?.shardSize ?? this.options.shardSize,
      onProgress: (hashed) => {
        this.metrics.hashedBytes.inc(Math.max(0, hashed - lastHashed));
        lastHashed = hashed;
        // Progress is for people watching: a write and an event at most twice a second.
        if (Date.now() - lastProgress < 500 && hashed < totalBytes) return;
        lastProgress = Date.now();
        void prisma.modelAttestation
          .update({
            where: { id: attestation.id },
            data: { hashedBytes: BigInt(hashed), totalBytes: BigInt(totalBytes) },
          })
          .then(() => this.announce(organizationId, attestation.id, 'RUNNING'))
          .catch((err: unknown) => log.debug({ err }, 'progress not recorded'));
      },
    });

    const findings: Finding[] = [];
    const formats: { path: string; format: string; sizeBytes: number }[] = [];
    for (const file of stored) {
      if (file.path === '.git' || file.path.startsWith('.git/')) continue;
      const size = Number(file.sizeBytes ?? 0n);
      const scanned = await scanModelFile(
        objectByteSource(objects, file.objectKey, file.path, size),
      );
      findings.push(...scanned.findings);
      formats.push({ path: file.path, format: scanned.format, sizeBytes: size });
    }

    let signature: {
      status: 'VERIFIED' | 'INVALID' | 'MISMATCH' | 'ABSENT';
      keyid: string | null;
    } = { status: 'ABSENT', keyid: null };
    if (attestation.signatureBundle !== null) {
      const keys = await this.deps.keysAndPolicies.activeKeys(organizationId);
      const result = verifyModelSignature(attestation.signatureBundle, manifest, keys);
      signature = {
        status: result.status,
        keyid: result.status === 'VERIFIED' ? (result.keyid ?? null) : null,
      };
      findings.push(...signatureFindings(result, version.model.pinnedKeyId));
      if (result.status === 'VERIFIED' && !version.model.pinnedKeyId && result.keyid) {
        // Trust on first use: the first key that signs a model is the one it stays signed by.
        await prisma.model.updateMany({
          where: { id: version.model.id, pinnedKeyId: null },
          data: { pinnedKeyId: result.keyid },
        });
      }
    }

    const policy = await this.deps.keysAndPolicies.resolvePolicy(
      organizationId,
      `${attestation.policyId}@${attestation.policyVersion}`,
    );
    findings.push(
      ...evaluateCompliance(policy.document, {
        license: version.license,
        modelCard: version.modelCard,
        files: formats,
        signature,
      }),
    );
    const { status, verdict } = verdictOf(findings);
    const completedAt = new Date();
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: version.model.name, digest: { sha256: manifest.subjectDigest } }],
      predicateType: RESULT_PREDICATE_TYPE,
      predicate: {
        attestationId: attestation.id,
        model: { name: version.model.name, version: version.version, id: version.id },
        policy: { id: policy.policyId, version: policy.version },
        status,
        verdict,
        signature: { status: signature.status, keyid: signature.keyid },
        findings: {
          total: findings.length,
          bySeverity: Object.fromEntries(
            (['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFO'] as const).map((s) => [
              s,
              findings.filter((f) => f.severity === s).length,
            ]),
          ),
          codes: [...new Set(findings.map((f) => f.code))].sort(),
        },
        manifest: {
          serialization: manifest.serialization,
          resources: manifest.resources.length,
          totalBytes: manifest.totalBytes,
        },
        verifiedAt: completedAt.toISOString(),
      },
    };
    const key = await this.deps.resultKeys.signingKey();
    const envelope = signEnvelope(
      IN_TOTO_PAYLOAD_TYPE,
      Buffer.from(JSON.stringify(statement)),
      KeyObject.from(key.privateKey),
      key.kid,
    );
    if (this.loop.abandoned) return;
    await prisma.$transaction(async (tx) => {
      await tx.modelAttestation.update({
        where: { id: attestation.id },
        data: {
          status,
          verdict,
          findings: findings as unknown as Prisma.InputJsonValue,
          manifest: manifest as unknown as Prisma.InputJsonValue,
          files: manifestFiles(manifest, formats),
          signatureStatus: signature.status,
          signerKeyId: signature.keyid,
          statement: statement as unknown as Prisma.InputJsonValue,
          envelope: JSON.stringify(envelope),
          hashedBytes: BigInt(totalBytes),
          totalBytes: BigInt(totalBytes),
          completedAt,
          error: null,
        },
      });
      await tx.modelAttestationJob.update({
        where: { attestationId: attestation.id },
        data: { doneAt: completedAt, lockedBy: null, lockedUntil: null },
      });
      await this.deps.audit.append(
        organizationId,
        {
          action: 'attestation.status',
          actor: `worker:${this.workerId}`,
          subjectType: 'model-attestation',
          subjectId: attestation.id,
          detail: {
            status,
            verdict,
            manifestDigest: manifest.subjectDigest,
            signature: signature.status,
            findings: findings.length,
          },
        },
        tx,
      );
    });
    this.metrics.finished.inc({ status });
    log.info({ status, verdict, findings: findings.length }, 'model attestation appraised');
    await this.announce(organizationId, attestation.id, status, {
      verdict,
      policy: `${policy.policyId}@${policy.version}`,
      model: `${version.model.name}@${version.version}`,
      findings,
      envelope: JSON.stringify(envelope),
      error: null,
      submittedAt: attestation.submittedAt.toISOString(),
      completedAt: completedAt.toISOString(),
    });
  }

  private async failed(job: Job, error: unknown, log: Logger): Promise<void> {
    if (this.loop.abandoned) return;
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
    if (job.attempts < this.options.maxAttempts) {
      const delayMs = Math.min(60_000, 500 * 2 ** (job.attempts - 1));
      log.warn({ err: error, retryInMs: delayMs }, 'model attestation failed; will retry');
      await this.release(job, {
        done: false,
        runAt: new Date(Date.now() + delayMs),
        error: reason,
      });
      return;
    }
    log.error({ err: error }, 'model attestation failed for good');
    const attestation = await this.deps.prisma.$transaction(async (tx) => {
      const row = await tx.modelAttestation.update({
        where: { id: job.attestationId },
        data: {
          status: 'ERROR',
          error: `gave up after ${job.attempts} attempts; last error: ${reason}`.slice(0, 2000),
          completedAt: new Date(),
        },
      });
      await tx.modelAttestationJob.update({
        where: { attestationId: job.attestationId },
        data: { doneAt: new Date(), lockedBy: null, lockedUntil: null, lastError: reason },
      });
      await this.deps.audit.append(
        row.organizationId,
        {
          action: 'attestation.status',
          actor: `worker:${this.workerId}`,
          subjectType: 'model-attestation',
          subjectId: row.id,
          detail: { status: 'ERROR', error: reason },
        },
        tx,
      );
      return row;
    });
    this.metrics.finished.inc({ status: 'ERROR' });
    await this.announce(attestation.organizationId, attestation.id, 'ERROR', {
      verdict: null,
      policy: `${attestation.policyId}@${attestation.policyVersion}`,
      findings: [],
      envelope: null,
      error: attestation.error,
      submittedAt: attestation.submittedAt.toISOString(),
      completedAt: attestation.completedAt?.toISOString() ?? null,
    });
  }

  private async release(
    job: Job,
    options: { done: boolean; runAt?: Date; error?: string },
  ): Promise<void> {
    await this.deps.prisma.modelAttestationJob.updateMany({
      where: { attestationId: job.attestationId, lockedBy: this.workerId },
      data: {
        lockedUntil: null,
        lockedBy: null,
        ...(options.done ? { doneAt: new Date() } : {}),
        ...(options.runAt ? { runAt: options.runAt } : {}),
        ...(options.error ? { lastError: options.error } : {}),
      },
    });
    this.loop.wake();
  }
}
