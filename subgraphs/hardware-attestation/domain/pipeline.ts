import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Prisma } from '../../../generated/prisma/hardware-attestation/client.ts';
import { buildEarClaims, signEar } from './ear.ts';
import type { HardwareAttestationDeps } from './deps.ts';
import { loadPolicy, resolveReferenceValue, PolicyDeletedError } from './lifecycle.ts';
import { verifyNrasResult, type NrasVerification } from './nras.ts';
import type { Appraisal, EarStatus } from './policy.ts';
import { statusAudit, statusEvent, type AttestationRecord } from './records.ts';
import type { JobInput } from './submit.ts';

/** A job as a worker holds it. */
interface ClaimedJob {
  attestationId: string;
  attempts: number;
  input: JobInput;
}

/** What an appraisal produced, before it is stored. */
interface Outcome {
  status: 'VERIFIED' | 'FAILED';
  verdict: 'AFFIRMING' | 'WARNING' | 'CONTRAINDICATED' | 'NONE';
  appraisal: Appraisal;
  token: string;
  report: Record<string, unknown>;
  error: string | null;
  referenceValueId: string | null;
}

const verdicts: Record<EarStatus, Outcome['verdict']> = {
  affirming: 'AFFIRMING',
  warning: 'WARNING',
  contraindicated: 'CONTRAINDICATED',
  none: 'NONE',
};

/** The object-store key of an attestation's report: one per attestation, whatever the retries. */
export function reportKey(record: { organizationId: string; id: string }): string {
  return `hardware-attestations/${record.organizationId}/${record.id}.json`;
}

export interface PipelineMetrics {
  completed: Counter<'status'>;
  retries: Counter<'reason'>;
  duration: Histogram<'status'>;
}

export function pipelineMetrics(registry: Registry): PipelineMetrics {
  return {
    completed: new Counter({
      name: 'lotabots_attestations_completed_total',
      help: 'Hardware attestations that reached a final status',
      labelNames: ['status'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'lotabots_attestation_job_retries_total',
      help: 'Attestation jobs put back for a retry after a failure',
      labelNames: ['reason'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'lotabots_attestation_duration_seconds',
      help: 'From submission to final status',
      labelNames: ['status'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}

/**
 * The workers of one replica. Jobs are claimed from the database with `FOR UPDATE SKIP LOCKED`
 * and a lease, so any number of replicas share the queue and a job whose worker died is claimed
 * again when its lease runs out. Finishing is guarded by holding the lease: an attestation reaches
 * its final status exactly once, with its report stored first.
 */
export class AttestationPipeline {
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private running = 0;
  private stopping = false;
  /** Set when stop() gave up waiting: late finishes must not write anything. */
  private abandoned = false;
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: HardwareAttestationDeps,
    private readonly metrics: PipelineMetrics,
    private readonly options: {
      concurrency: number;
      leaseMs: number;
      maxAttempts: number;
      pollMs?: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), this.options.pollMs ?? 1_000);
    this.timer.unref();
    this.wake();
  }

  /** Looks for work now (coalesced with a look already under way). */
  wake(): void {
    if (this.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = this.pump()
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: error }, 'claiming attestation jobs failed; will retry'),
      )
      .finally(() => {
        this.pumping = null;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.wake();
        }
      });
  }

  /**
   * Stops claiming, waits up to `graceMs` for jobs in progress, then abandons the rest: their
   * leases run out and another worker (or this one after a restart) claims them again.
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight, this.pumping]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.abandoned = true;
  }

  private async pump(): Promise<void> {
    while (!this.stopping && this.running < this.options.concurrency) {
      const jobs = await this.claim(this.options.concurrency - this.running);
      if (jobs.length === 0) return;
      for (const job of jobs) {
        this.running += 1;
        const run = this.run(job).finally(() => {
          this.running -= 1;
          this.inFlight.delete(run);
          this.wake();
        });
        this.inFlight.add(run);
      }
    }
  }

  /** Claims up to `limit` due jobs and moves their attestations from PENDING to RUNNING. */
  private async claim(limit: number): Promise<ClaimedJob[]> {
    const { prisma } = this.deps;
    const { claimed, started } = await prisma.$transaction(async (tx) => {
      // Prisma stores DateTime as UTC timestamps; compare with the database's clock in UTC.
      const due = await tx.$queryRaw<{ attestationId: string }[]>`
        SELECT "attestationId" FROM "AttestationJob"
        WHERE "doneAt" IS NULL
          AND "runAt" <= (now() AT TIME ZONE 'UTC')
          AND ("lockedUntil" IS NULL OR "lockedUntil" < (now() AT TIME ZONE 'UTC'))
        ORDER BY "runAt"
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED`;
      if (due.length === 0) return { claimed: [], started: [] };
      const ids = due.map((row) => row.attestationId);
      await tx.attestationJob.updateMany({
        where: { attestationId: { in: ids } },
        data: {
          lockedBy: this.workerId,
          lockedUntil: new Date(Date.now() + this.options.leaseMs),
          attempts: { increment: 1 },
        },
      });
      const jobs = await tx.attestationJob.findMany({ where: { attestationId: { in: ids } } });
      const pending = await tx.attestation.findMany({
        where: { id: { in: ids }, status: 'PENDING' },
      });
      const startedAt = new Date();
      const running = pending.map((record) => ({
        ...record,
        status: 'RUNNING' as const,
        startedAt,
      }));
      if (running.length > 0) {
        await tx.attestation.updateMany({
          where: { id: { in: running.map((r) => r.id) }, status: 'PENDING' },
          data: { status: 'RUNNING', startedAt },
        });
        await tx.auditEntry.createMany({
          data: running.map((record) =>
            statusAudit(record, `worker:${this.workerId}`, { attempt: 1 }),
          ),
        });
        await tx.outboxEvent.createMany({ data: running.map((record) => statusEvent(record)) });
      }
      return {
        claimed: jobs.map((job) => ({
          attestationId: job.attestationId,
          attempts: job.attempts,
          input: job.input as unknown as JobInput,
        })),
        started: running,
      };
    });
    if (started.length > 0) this.deps.outbox.notify();
    return claimed;
  }

  private async run(job: ClaimedJob): Promise<void> {
    const log = this.deps.logger.child({ attestationId: job.attestationId, attempt: job.attempts });
    try {
      const record = await this.deps.prisma.attestation.findUniqueOrThrow({
        where: { id: job.attestationId },
      });
      if (record.status !== 'PENDING' && record.status !== 'RUNNING') {
        // Finished by an earlier holder whose completion this claim raced with.
        await this.release(job, { done: true });
        return;
      }
      const outcome = await this.appraise(record, job.input);
      await this.deps.objects.put(
        reportKey(record),
        Buffer.from(JSON.stringify(outcome.report, null, 2)),
        { contentType: 'application/json' },
      );
      await this.finish(job, record, {
        status: outcome.status,
        verdict: outcome.verdict,
        claims: outcome.appraisal.claims as unknown as Prisma.InputJsonValue,
        token: outcome.token,
        reportKey: reportKey(record),
        error: outcome.error,
        referenceValueId: outcome.referenceValueId,
      });
      log.info({ status: outcome.status, verdict: outcome.verdict }, 'attestation appraised');
    } catch (error) {
      await this.failed(job, error, log).catch((err: unknown) =>
        // The database itself is unreachable: the lease runs out and the job is claimed again.
        log.error(
          { err, cause: error },
          'attestation job could not be put back; its lease will expire',
        ),
      );
    }
  }

  /** Verifies the NRAS result, picks reference values, runs the policy and signs the EAR. */
  private async appraise(record: AttestationRecord, input: JobInput): Promise<Outcome> {
    const { prisma, config } = this.deps;
    const nras: NrasVerification | null = input.nrasToken
      ? await verifyNrasResult(input.nrasToken, input.nonce ?? '', this.deps.nras)
      : null;
    const reference = input.evidence
      ? await resolveReferenceValue(prisma, record.organizationId, input.evidence.gpu.name)
      : null;
    let policy;
    try {
      policy = await loadPolicy(prisma, input.policy);
    } catch (error) {
      if (error instanceof PolicyDeletedError) throw new PoisonError(error.message);
      throw error;
    }
    const appraisal = policy.appraise({
      evidence: input.evidence,
      evidenceProblem: input.evidenceProblem,
      nonce: input.nonceCheck,
      nras,
      reference: reference
        ? {
            id: reference.id,
            version: reference.platform ? null : reference.version,
            name: reference.name,
            content: reference.content,
          }
        : null,
    });
    const key = await this.deps.resultKeys.signingKey();
    const issuedAt = Math.floor(Date.now() / 1000);
    const submodKey = input.evidence ? `GPU-${input.evidence.gpu.index}` : 'GPU';
    const claims = buildEarClaims({
      verifierId: { developer: 'https://lotabots.dev', build: `lotabots-${config.NODE_ENV}` },
      nonce: input.nonce,
      issuedAt,
      submods: { [submodKey]: { gpuUuid: record.gpuUuid, appraisal } },
      attestationId: record.id,
      organizationId: record.organizationId,
    });
    const token = await signEar(claims, key);
    const verdict = verdicts[appraisal.status];
    const status = verdict === 'AFFIRMING' || verdict === 'WARNING' ? 'VERIFIED' : 'FAILED';
    const failing = appraisal.claims.filter((c) => c.status === 'contraindicated');
    const error =
      status === 'FAILED'
        ? failing.length > 0
          ? failing
              .map(
                (c) =>
                  `${c.name}: ${c.reason ?? `expected ${c.expected ?? '?'}, got ${c.actual ?? '?'}`}`,
              )
              .join('; ')
          : 'no claim could be appraised'
        : null;
    return {
      status,
      verdict,
      appraisal,
      token,
      error,
      referenceValueId: reference?.id ?? null,
      report: {
        attestationId: record.id,
        organizationId: record.organizationId,
        gpuUuid: record.gpuUuid,
        submittedAt: record.submittedAt.toISOString(),
        appraisedAt: new Date(issuedAt * 1000).toISOString(),
        status,
        verdict,
        evidenceSource: input.source,
        evidence: input.evidence ?? input.rejectedEvidence,
        evidenceProblem: input.evidenceProblem,
        nonce: input.nonce,
        nonceCheck: input.nonceCheck,
        nras: nras ? { verification: nras, response: input.nrasToken } : null,
        referenceValue: reference,
        policy: { id: appraisal.policyId, version: appraisal.policyVersion },
        appraisal,
        result: { token, kid: key.kid, alg: key.alg, claims },
      },
    };
  }

  /** Stores the final status, if this worker still holds the job's lease. */
  private async finish(
    job: ClaimedJob,
    record: AttestationRecord,
    data: {
      status: 'VERIFIED' | 'FAILED' | 'ERROR';
      verdict: Outcome['verdict'] | null;
      claims?: Prisma.InputJsonValue;
      token?: string | null;
      reportKey?: string | null;
      error: string | null;
      referenceValueId?: string | null;
    },
  ): Promise<void> {
    if (this.abandoned) return;
    const completedAt = new Date();
    const finished = await this.deps.prisma.$transaction(async (tx) => {
      const held = await tx.attestationJob.updateMany({
        where: { attestationId: job.attestationId, lockedBy: this.workerId, doneAt: null },
        data: { doneAt: completedAt, lockedUntil: null, lastError: data.error },
      });
      if (held.count === 0) return null;
      const updated = await tx.attestation.updateMany({
        where: { id: record.id, status: { in: ['PENDING', 'RUNNING'] } },
        data: { ...data, completedAt },
      });
      if (updated.count === 0) return null;
      const final = await tx.attestation.findUniqueOrThrow({ where: { id: record.id } });
      await tx.auditEntry.create({
        data: statusAudit(final, `worker:${this.workerId}`, {
          attempt: job.attempts,
          verdict: final.verdict,
          ...(final.error ? { error: final.error } : {}),
        }),
      });
      await tx.outboxEvent.create({ data: statusEvent(final) });
      return final;
    });
    if (!finished) return;
    this.deps.outbox.notify();
    this.metrics.completed.inc({ status: finished.status });
    this.metrics.duration.observe(
      { status: finished.status },
      (completedAt.getTime() - finished.submittedAt.getTime()) / 1000,
    );
  }

  /** After a failure: retry with backoff, or ERROR once attempts are spent (or it cannot succeed). */
  private async failed(
    job: ClaimedJob,
    error: unknown,
    log: HardwareAttestationDeps['logger'],
  ): Promise<void> {
    if (this.abandoned) return;
    const reason = error instanceof Error ? error.message : String(error);
    const poison = error instanceof PoisonError;
    if (poison || job.attempts >= this.options.maxAttempts) {
      log.error({ err: error }, 'attestation job failed for good');
      const record = await this.deps.prisma.attestation.findUniqueOrThrow({
        where: { id: job.attestationId },
      });
      await this.finish(job, record, {
        status: 'ERROR',
        verdict: null,
        error: poison
          ? reason
          : `gave up after ${job.attempts} attempts; last error: ${reason}`.slice(0, 2000),
      });
      return;
    }
    const delayMs = Math.min(60_000, 250 * 2 ** (job.attempts - 1));
    log.warn({ err: error, retryInMs: delayMs }, 'attestation job failed; will retry');
    this.metrics.retries.inc({ reason: error instanceof Error ? error.name : 'unknown' });
    await this.release(job, { done: false, runAt: new Date(Date.now() + delayMs), error: reason });
  }

  private async release(
    job: ClaimedJob,
    options: { done: boolean; runAt?: Date; error?: string },
  ): Promise<void> {
    await this.deps.prisma.attestationJob.updateMany({
      where: { attestationId: job.attestationId, lockedBy: this.workerId },
      data: {
        lockedUntil: null,
        lockedBy: null,
        ...(options.done ? { doneAt: new Date() } : {}),
        ...(options.runAt ? { runAt: options.runAt } : {}),
        ...(options.error ? { lastError: options.error.slice(0, 2000) } : {}),
      },
    });
    this.wake();
  }
}

/** A failure that no retry can fix (the chosen policy was deleted): straight to ERROR. */
export class PoisonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonError';
  }
}
