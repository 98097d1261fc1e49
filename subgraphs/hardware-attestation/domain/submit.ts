import { randomUUID } from 'node:crypto';
import type {
  Prisma,
  PrismaClient,
} from '../../../generated/prisma/hardware-attestation/client.ts';
import type { Principal } from '../../../platform/auth/principal.ts';
import { badInput, notFound } from '../../../platform/errors.ts';
import { consumeNonce, newNonce } from './challenges.ts';
import type { HardwareAttestationDeps } from './deps.ts';
import { gpuEvidenceSchema, type GpuEvidence, type NonceCheck } from './evidence.ts';
import { ownedGpu, type OwnedGpu } from './owned-gpu.ts';
import { choosePolicy, type PolicyChoice } from './lifecycle.ts';
import { submitter, type AttestationRecord } from './records.ts';
import { insertSubmission } from './statements.ts';

/** What a worker needs to appraise an attestation, fixed when it was accepted. */
export interface JobInput {
  /** Valid evidence, or null when `evidenceProblem` says why there is none. */
  evidence: GpuEvidence | null;
  /** The evidence as submitted when it failed validation (kept for the report). */
  rejectedEvidence: unknown;
  evidenceProblem: string | null;
  nonce: string | null;
  nonceCheck: NonceCheck;
  nrasToken: string | null;
  policy: PolicyChoice;
  /** Where the evidence came from. */
  source: 'caller' | 'gpu-agent' | 'reattestation';
}

export interface SubmitInput {
  gpuUuid: string;
  nonce?: string | null;
  evidence?: unknown;
  nrasToken?: string | null;
  policyId?: string | null;
}

const maxNrasBytes = 64 * 1024;

/**
 * Accepts an attestation: checks what must hold before anything is stored (the GPU is the
 * organization's, sizes, the policy exists), then writes the PENDING record, its job, its audit
 * entries and its status event in one transaction. Problems with the evidence itself are not
 * refused here: they become the attestation's failed claims, so the record says why.
 */
export async function submitAttestation(
  deps: HardwareAttestationDeps,
  principal: Principal,
  authorization: string | null,
  input: SubmitInput,
): Promise<AttestationRecord> {
  const limit = deps.config.ATTESTATION_EVIDENCE_MAX_BYTES;
  if (input.evidence !== undefined && input.evidence !== null) {
    const size = Buffer.byteLength(JSON.stringify(input.evidence), 'utf8');
    if (size > limit)
      throw badInput(`evidence is ${size} bytes; the limit is ${limit}`, { field: 'evidence' });
  }
  if (input.nrasToken && Buffer.byteLength(input.nrasToken, 'utf8') > maxNrasBytes)
    throw badInput(`nrasToken is over ${maxNrasBytes} bytes`, { field: 'nrasToken' });
  if (input.nonce !== undefined && input.nonce !== null && !/^[0-9a-f]{32,128}$/.test(input.nonce))
    throw badInput('nonce must be the hex nonce of a challenge', { field: 'nonce' });

  const gpu = await ownedGpu(deps, principal, authorization, input.gpuUuid);
  if (!gpu) throw notFound('GPU');
  const policy = await choosePolicy(deps.prisma, principal.organizationId, input.policyId);

  const job = prepareEvidence(input, gpu);
  const credential = authorization ?? '';
  const holds = await reserveQuota(deps, credential);
  let record: AttestationRecord;
  try {
    record = await storeSubmission(deps, {
      organizationId: principal.organizationId,
      gpuUuid: gpu.uuid,
      submittedBy: submitter(principal),
      trigger: 'request',
      job: { ...job, policy },
      bindNonce: job.nonce !== null && job.source === 'caller' ? job.nonce : (input.nonce ?? null),
    });
  } catch (error) {
    await Promise.all(holds.map((hold) => deps.quotas.release(credential, hold)));
    throw error;
  }
  // The concurrency hold stays until the resources subgraph hears this attestation finish.
  await Promise.all(holds.map((hold) => deps.quotas.commit(credential, hold, record.id)));
  return record;
}

/**
 * One more attestation today and one more running at once, or QUOTA_EXCEEDED. Claimed one after
 * the other so a refused second claim gives the first back.
 */
async function reserveQuota(deps: HardwareAttestationDeps, credential: string) {
  const daily = await deps.quotas.reserve(credential, { kind: 'ATTESTATIONS_PER_DAY', amount: 1 });
  try {
    const running = await deps.quotas.reserve(credential, {
      kind: 'CONCURRENT_ATTESTATIONS',
      amount: 1,
    });
    return [daily, running];
  } catch (error) {
    await deps.quotas.release(credential, daily);
    throw error;
  }
}

function prepareEvidence(
  input: SubmitInput,
  gpu: OwnedGpu,
): Omit<JobInput, 'policy' | 'nonceCheck'> {
  const nrasToken = input.nrasToken ?? null;
  if (input.evidence === undefined || input.evidence === null) {
    // LotaBots reads the state itself. A caller nonce binds it (and an NRAS result) to a
    // challenge; without one, a fresh server nonce binds it to this attestation alone.
    const nonce = input.nonce ?? newNonce();
    return {
      evidence: gpu.evidence(nonce),
      rejectedEvidence: null,
      evidenceProblem: null,
      nonce,
      nrasToken,
      source: 'gpu-agent',
    };
  }
  const parsed = gpuEvidenceSchema.safeParse(input.evidence);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || 'evidence'}: ${i.message}`);
    const claimed = (input.evidence as { nonce?: unknown }).nonce;
    return {
      evidence: null,
      rejectedEvidence: input.evidence,
      evidenceProblem: `evidence is malformed: ${problems.join('; ')}`,
      nonce: input.nonce ?? (typeof claimed === 'string' ? claimed.slice(0, 128) : null),
      nrasToken,
      source: 'caller',
    };
  }
  const evidence = parsed.data;
  let problem: string | null = null;
  if (evidence.gpu.uuid !== gpu.uuid)
    problem = `evidence describes GPU ${evidence.gpu.uuid}, not ${gpu.uuid}`;
  else if (input.nonce && input.nonce !== evidence.nonce)
    problem = 'the evidence carries a different nonce than the submission';
  return {
    evidence: problem ? null : evidence,
    rejectedEvidence: problem ? evidence : null,
    evidenceProblem: problem,
    nonce: evidence.nonce,
    nrasToken,
    source: 'caller',
  };
}

/**
 * Stores a PENDING attestation with its job, audit entries and status event in one transaction,
 * spending `bindNonce` (a challenge nonce) in it when given. Shared by submissions and scheduled
 * re-attestations.
 */
export async function storeSubmission(
  deps: HardwareAttestationDeps,
  submission: {
    organizationId: string;
    gpuUuid: string;
    submittedBy: string;
    trigger: string;
    job: Omit<JobInput, 'nonceCheck'>;
    /** A challenge nonce to spend; null when the nonce is the server's own. */
    bindNonce: string | null;
  },
  tx?: Prisma.TransactionClient,
): Promise<AttestationRecord> {
  const id = randomUUID();
  const work = async (t: Prisma.TransactionClient | PrismaClient) => {
    const nonceCheck: NonceCheck =
      submission.bindNonce !== null
        ? await consumeNonce(t, {
            nonce: submission.bindNonce,
            organizationId: submission.organizationId,
            gpuUuid: submission.gpuUuid,
            attestationId: id,
          })
        : submission.job.nrasToken
          ? { ok: false, reason: 'an NRAS result needs the nonce of a challenge; none was given' }
          : { ok: true, reason: null };
    const input: JobInput = { ...submission.job, nonceCheck };
    return insertSubmission(t, {
      id,
      organizationId: submission.organizationId,
      gpuUuid: submission.gpuUuid,
      submittedBy: submission.submittedBy,
      trigger: submission.trigger,
      policyId: submission.job.policy.policyId,
      policyVersion: submission.job.policy.version,
      input,
      submittedDetail: {
        gpuUuid: submission.gpuUuid,
        trigger: submission.trigger,
        evidenceSource: submission.job.source,
        policy: `${submission.job.policy.policyId}@${submission.job.policy.version}`,
        nrasResult: submission.job.nrasToken !== null,
      },
    });
  };
  // Spending a nonce and storing the submission must commit together; without a nonce the
  // insert is one statement, atomic by itself.
  const record = tx
    ? await work(tx)
    : submission.bindNonce !== null
      ? await deps.prisma.$transaction(work)
      : await work(deps.prisma);
  if (!tx) {
    deps.outbox.notify();
    deps.wakeWorkers();
  }
  return record;
}
