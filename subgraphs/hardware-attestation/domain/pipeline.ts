import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import { buildEarClaims, signEar } from './ear.ts';
import type { HardwareAttestationDeps } from './deps.ts';
import { loadPolicy, resolveReferenceValue, PolicyDeletedError } from './lifecycle.ts';
import { verifyNrasResult, type NrasVerification } from './nras.ts';
import type { Appraisal, EarStatus } from './policy.ts';
import type { AttestationRecord } from './records.ts';
import { claimJobs, finishJob } from './statements.ts';
import { JobLoop } from '../../../platform/jobs/job-loop.ts';
import type { JobInput } from './submit.ts';

/** A job as a worker holds it. */
interface ClaimedJob {
  attestationId: string;
  attempts: number;
  input: JobInput;
  /** The attestation as of the claim. */
  record: AttestationRecord;
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
  private readonly loop: JobLoop<ClaimedJob>;

  constructor(
    private readonly deps: HardwareAttestationDeps,
    private readonly metrics: PipelineMetrics,
    private readonly options: {
      concurrency: number;
      leaseMs: number;
      maxAttempts: number;
      pollMs?: number;
    },
  ) {
    this.loop = new JobLoop(
      { claim: (limit) => this.claim(limit), run: (job) => this.run(job) },
      {
        name: 'attestation',
        concurrency: options.concurrency,
        pollMs: options.pollMs ?? 1_000,
        logger: deps.logger,
      },
    );
  }

  /** Starts claiming jobs; after stop() it resumes (what a paused replica does on restart). */
  start(): void {
    this.loop.start();
  }

  /** Looks for work now (coalesced with a look already under way). */
  wake(): void {
    this.loop.wake();
  }

  /**
   * Stops claiming, waits up to `graceMs` for jobs in progress, then abandons the rest: their
   * leases run out and another worker (or this one after a restart) claims them again.
   */
  stop(graceMs = 5_000): Promise<void> {
    return this.loop.stop(graceMs);
  }

  /** Set when stop() gave up waiting: late finishes must not write anything. */
  private get abandoned(): boolean {
    return this.loop.abandoned;
  }

  /** Claims up to `limit` due jobs and moves their attestations from PENDING to RUNNING. */
  private async claim(limit: number): Promise<ClaimedJob[]> {
    const rows = await claimJobs(this.deps.prisma, {
      limit,
      workerId: this.workerId,
      leaseSeconds: Math.ceil(this.options.leaseMs / 1000),
    });
    if (rows.some((row) => row.started)) this.deps.outbox.notify();
    return rows.map((row) => ({
      attestationId: row.attestationId,
      attempts: row.attempts,
      input: row.input as JobInput,
      record: row.record,
    }));
  }

  private async run(job: ClaimedJob): Promise<void> {
    const log = this.deps.logger.child({ attestationId: job.attestationId, attempt: job.attempts });
    try {
      const record = job.record;
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
      await this.finish(job, {
        status: outcome.status,
        verdict: outcome.verdict,
        claims: outcome.appraisal.claims,
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
    // NRAS's key set could not be fetched: nothing is known about the result yet, so this is a
    // retry (and ERROR if it lasts), not a verdict on the GPU.
    const unavailable = nras?.failures.find((f) => f.check === 'key-unavailable');
    if (unavailable) throw new NrasUnavailableError(unavailable.reason);
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
    data: {
      status: 'VERIFIED' | 'FAILED' | 'ERROR';
      verdict: Outcome['verdict'] | null;
      claims?: unknown;
      token?: string | null;
      reportKey?: string | null;
      error: string | null;
      referenceValueId?: string | null;
    },
  ): Promise<void> {
    if (this.abandoned) return;
    const finished = await finishJob(this.deps.prisma, {
      attestationId: job.attestationId,
      workerId: this.workerId,
      status: data.status,
      verdict: data.verdict,
      claims: data.claims,
      token: data.token ?? null,
      reportKey: data.reportKey ?? null,
      error: data.error,
      referenceValueId: data.referenceValueId ?? null,
      auditDetail: {
        attempt: job.attempts,
        verdict: data.verdict,
        ...(data.error ? { error: data.error } : {}),
      },
    });
    if (!finished) return;
    this.deps.outbox.notify();
    this.metrics.completed.inc({ status: finished.status });
    this.metrics.duration.observe(
      { status: finished.status },
      ((finished.completedAt?.getTime() ?? Date.now()) - finished.submittedAt.getTime()) / 1000,
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
      await this.finish(job, {
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

/** NRAS's published keys could not be fetched; the job is retried. */
export class NrasUnavailableError extends Error {
  constructor(reason: string) {
    super(`NRAS key set unavailable: ${reason}`);
    this.name = 'NrasUnavailableError';
  }
}

/** A failure that no retry can fix (the chosen policy was deleted): straight to ERROR. */
export class PoisonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonError';
  }
}
