import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Principal } from '../../../platform/auth/principal.ts';
import { conflict, notFound } from '../../../platform/errors.ts';
import { isUuid } from '../../../platform/ids.ts';
import { JobLoop } from '../../../platform/jobs/job-loop.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { ObjectStore } from '../../../platform/objects/index.ts';
import type { PrismaClient, ReportJob } from '../../../generated/prisma/documents/client.ts';
import { actorOf } from './access.ts';
import {
  finishedAttestation,
  readHardwareAttestation,
  readModelAttestation,
  subjectOf,
  type FinishedAttestation,
} from './attestation-source.ts';
import type { DocumentService } from './documents.ts';
import { reportJson, type AttestationReportInput } from './report-content.ts';
import { renderReportPdf } from './report-pdf.ts';

/** Who made a generated document or version. */
export const reportsActor = 'system:reports';

interface ReportMetrics {
  generated: Counter<'result'>;
  duration: Histogram;
}

function reportMetrics(registry: Registry): ReportMetrics {
  return {
    generated: new Counter({
      name: 'lotabots_report_jobs_total',
      help: 'Report generation jobs by outcome (done, retry, failed).',
      labelNames: ['result'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'lotabots_report_generation_seconds',
      help: 'Time to render and store one attestation report (PDF and JSON).',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

/** A failure no retry can fix: the job ends FAILED at once. */
class ReportPoisonError extends Error {}

/**
 * Attestation reports as durable jobs: a finished attestation's status event (or a user asking
 * again) inserts a job row; workers on any replica claim due jobs with a lease, render the PDF
 * and JSON, store them, and add them as a new version of the attestation's one report document.
 * A worker that dies leaves its lease to run out; a failure retries with backoff, then FAILED.
 */
export class ReportService {
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly loop: JobLoop<ReportJob>;
  private readonly metrics: ReportMetrics;

  constructor(
    /** Public so fault tests can swap the object store for a broken one, as an outage would. */
    readonly deps: {
      prisma: PrismaClient;
      objects: ObjectStore;
      documents: DocumentService;
      logger: Logger;
      publicUrl: string;
      hardwareAttestationUrl: string;
      modelAttestationUrl: string;
    },
    registry: Registry,
    private readonly options: { concurrency: number; maxAttempts: number; leaseMs: number },
  ) {
    this.metrics = reportMetrics(registry);
    this.loop = new JobLoop(
      { claim: (limit) => this.claim(limit), run: (job) => this.run(job) },
      { name: 'report', concurrency: options.concurrency, pollMs: 1_000, logger: deps.logger },
    );
  }

  start(): void {
    this.loop.start();
  }

  stop(graceMs?: number): Promise<void> {
    return this.loop.stop(graceMs);
  }

  /**
   * Queues the report of an attestation that just finished. Every replica hears the event (and
   * the outbox may publish it again); the dedupe key makes that one job.
   */
  async enqueueCompleted(attestation: FinishedAttestation): Promise<void> {
    const subject = subjectOf(attestation);
    const created = await this.deps.prisma.reportJob.createMany({
      data: [
        {
          organizationId: attestation.organizationId,
          subject,
          attestation: attestation,
          trigger: 'completed',
          requestedBy: reportsActor,
          dedupeKey: `${subject}:${attestation.status}:${attestation.completedAt ?? ''}`,
        },
      ],
      skipDuplicates: true,
    });
    if (created.count > 0) this.loop.wake();
  }

  /**
   * Queues a new version of an attestation's report, reading the attestation from its subgraph
   * with the caller's credentials (so only an attestation of the caller's organization is found).
   */
  async regenerate(
    principal: Principal,
    authorization: string,
    attestationId: string,
  ): Promise<ReportJob> {
    if (!isUuid(attestationId)) throw notFound('Attestation');
    // The id names a hardware or a model attestation; each subgraph answers for its own, scoped
    // to the caller's organization by the caller's own credentials.
    const found =
      (await readHardwareAttestation(
        this.deps.hardwareAttestationUrl,
        authorization,
        principal.organizationId,
        attestationId,
      )) ??
      (await readModelAttestation(
        this.deps.modelAttestationUrl,
        authorization,
        principal.organizationId,
        attestationId,
      ));
    if (!found) throw notFound('Attestation');
    if (!found.attestation) {
      throw conflict(
        `the attestation is ${found.status}; its report is made once it finishes`,
        'NOT_FINISHED',
      );
    }
    const subject = subjectOf(found.attestation);
    const existing = await this.deps.prisma.document.findFirst({
      where: { organizationId: principal.organizationId, subject },
    });
    if (existing?.deletedAt) {
      throw conflict('the report document is deleted; restore it first', 'DELETED');
    }
    const job = await this.deps.prisma.reportJob.create({
      data: {
        organizationId: principal.organizationId,
        subject,
        attestation: found.attestation,
        trigger: 'regenerate',
        requestedBy: actorOf(principal),
      },
    });
    this.loop.wake();
    return job;
  }

  /** A job of the caller's organization, or null. */
  findJob(principal: Principal, id: string): Promise<ReportJob | null> {
    if (!isUuid(id)) return Promise.resolve(null);
    return this.deps.prisma.reportJob.findFirst({
      where: { id, organizationId: principal.organizationId },
    });
  }

  private async claim(limit: number): Promise<ReportJob[]> {
    const leaseSeconds = Math.ceil(this.options.leaseMs / 1000);
    const ids = await this.deps.prisma.$queryRaw<{ id: string }[]>`
      UPDATE "ReportJob" SET
        "lockedBy" = ${this.workerId},
        "lockedUntil" = (now() AT TIME ZONE 'UTC') + make_interval(secs => ${leaseSeconds}::int),
        attempts = attempts + 1
      WHERE id IN (
        SELECT id FROM "ReportJob"
        WHERE state = 'PENDING' AND "runAt" <= (now() AT TIME ZONE 'UTC')
          AND ("lockedUntil" IS NULL OR "lockedUntil" < (now() AT TIME ZONE 'UTC'))
        ORDER BY "runAt"
        LIMIT ${limit}::int
        FOR UPDATE SKIP LOCKED)
      RETURNING id::text AS id`;
    if (ids.length === 0) return [];
    return this.deps.prisma.reportJob.findMany({ where: { id: { in: ids.map((r) => r.id) } } });
  }

  private async run(job: ReportJob): Promise<void> {
    const log = this.deps.logger.child({ reportJobId: job.id, subject: job.subject });
    const stop = this.metrics.duration.startTimer();
    try {
      const parsed = finishedAttestation.safeParse(job.attestation);
      if (!parsed.success) throw new ReportPoisonError('the job holds no finished attestation');
      const { documentId, version } = await this.generate(job, parsed.data);
      if (this.loop.abandoned) return;
      await this.deps.prisma.reportJob.updateMany({
        where: { id: job.id, lockedBy: this.workerId },
        data: {
          state: 'DONE',
          documentId,
          documentVersion: version,
          finishedAt: new Date(),
          lockedBy: null,
          lockedUntil: null,
          lastError: null,
        },
      });
      this.metrics.generated.inc({ result: 'done' });
      log.info({ documentId, version }, 'attestation report generated');
    } catch (error) {
      await this.failed(job, error, log).catch((err: unknown) =>
        log.error({ err, cause: error }, 'report job could not be put back; its lease will expire'),
      );
    } finally {
      stop();
    }
  }

  private async failed(job: ReportJob, error: unknown, log: Logger): Promise<void> {
    if (this.loop.abandoned) return;
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
    const final = error instanceof ReportPoisonError || job.attempts >= this.options.maxAttempts;
    const delayMs = Math.min(60_000, 500 * 2 ** (job.attempts - 1));
    if (final) log.error({ err: error }, 'report job failed for good');
    else log.warn({ err: error, retryInMs: delayMs }, 'report job failed; will retry');
    this.metrics.generated.inc({ result: final ? 'failed' : 'retry' });
    await this.deps.prisma.reportJob.updateMany({
      where: { id: job.id, lockedBy: this.workerId },
      data: {
        lockedBy: null,
        lockedUntil: null,
        lastError: reason,
        ...(final
          ? { state: 'FAILED', finishedAt: new Date() }
          : { runAt: new Date(Date.now() + delayMs) }),
      },
    });
    if (!final) this.loop.wake();
  }

  /** Renders and stores both files, then adds them as a version (creating the document once). */
  private async generate(
    job: ReportJob,
    attestation: FinishedAttestation,
  ): Promise<{ documentId: string; version: number }> {
    const base = this.deps.publicUrl.replace(/\/$/, '');
    const model = attestation.type === 'MODEL';
    const subject = model
      ? `model ${attestation.model ?? attestation.id}`
      : `GPU ${attestation.gpuUuid ?? attestation.id}`;
    const input: AttestationReportInput = {
      attestationType: attestation.type,
      attestationId: attestation.id,
      organizationId: attestation.organizationId,
      subject,
      status: attestation.status,
      verdict: attestation.verdict,
      policy: attestation.policy,
      submittedAt: attestation.submittedAt,
      completedAt: attestation.completedAt,
      error: attestation.error,
      claims: attestation.claims,
      findings: attestation.findings,
      token: attestation.token,
      jwksUrl: `${base}/.well-known/jwks.json`,
      graphqlUrl: `${base}/graphql`,
      generatedAt: new Date(),
    };
    const pdf = await renderReportPdf(input);
    const json = Buffer.from(`${JSON.stringify(reportJson(input), null, 2)}\n`);
    // Keys carry the job id: a retried job overwrites its own files, never another version's.
    const prefix = `documents/${attestation.organizationId}/reports/${job.id}`;
    const stored = await Promise.all([
      this.deps.objects.put(`${prefix}/report.pdf`, pdf, { contentType: 'application/pdf' }),
      this.deps.objects.put(`${prefix}/report.json`, json, { contentType: 'application/json' }),
    ]);
    const files = stored.map((put, index) => ({
      name: `attestation-${attestation.id}.${index === 0 ? 'pdf' : 'json'}`,
      contentType: index === 0 ? 'application/pdf' : 'application/json',
      sizeBytes: BigInt(put.sizeBytes),
      sha256: put.sha256,
      objectKey: put.key,
    }));
    const fields = {
      title: `${model ? 'Model' : 'Hardware'} attestation report: ${subject} (${attestation.status})`,
      tags: ['attestation-report', model ? 'model' : 'hardware', attestation.status.toLowerCase()],
      metadata: {
        attestationType: attestation.type,
        attestationId: attestation.id,
        status: attestation.status,
        verdict: attestation.verdict,
        policy: attestation.policy,
        ...(model ? { model: attestation.model } : { gpuUuid: attestation.gpuUuid }),
        completedAt: attestation.completedAt,
      },
    };
    const change = job.trigger === 'regenerate' ? 'report regenerated' : 'report generated';
    const actor = job.trigger === 'regenerate' ? job.requestedBy : reportsActor;
    return this.deps.prisma.$transaction(async (tx) => {
      const existing = await tx.document.findUnique({
        where: {
          organizationId_subject: {
            organizationId: attestation.organizationId,
            subject: job.subject,
          },
        },
      });
      if (existing?.deletedAt) throw new ReportPoisonError('the report document is deleted');
      if (existing) {
        const version = await this.deps.documents.newVersion(
          attestation.organizationId,
          existing.id,
          existing.version,
          { fields, change, actor, files },
          tx,
        );
        return { documentId: existing.id, version };
      }
      const created = await tx.document.create({
        data: {
          organizationId: attestation.organizationId,
          kind: 'ATTESTATION_REPORT',
          ...fields,
          createdBy: reportsActor,
          subject: job.subject,
          versions: {
            create: { version: 1, ...fields, change, createdBy: actor, files: { create: files } },
          },
        },
      });
      return { documentId: created.id, version: 1 };
    });
  }
}
