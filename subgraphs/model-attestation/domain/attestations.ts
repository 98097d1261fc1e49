import type { Principal } from '../../../platform/auth/principal.ts';
import { badInput, conflict, notFound } from '../../../platform/errors.ts';
import type { EventBus } from '../../../platform/events/index.ts';
import { modelAttestationStatusTopic } from '../../../platform/events/topics.ts';
import { isUuid } from '../../../platform/ids.ts';
import { EventQueue } from '../../../platform/subscriptions/event-queue.ts';
import type {
  ModelAttestation,
  PrismaClient,
} from '../../../generated/prisma/model-attestation/client.ts';
import type { AuditChain } from './audit-chain.ts';
import type { KeysAndPolicies } from './keys-and-policies.ts';
import { actorOf } from './models.ts';
import type { ModelAttestationPipeline } from './pipeline.ts';

/** A model.sig bundle is a few KiB; anything near this is not one. */
const MAX_SIGNATURE_BYTES = 256 * 1024;

/**
 * Submitting and reading model attestations, always inside the caller's organization. The work
 * itself is the pipeline's: a submission stores the attestation, its job and its audit entry in
 * one transaction, then wakes the workers.
 */
export class ModelAttestations {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly audit: AuditChain,
    private readonly keysAndPolicies: KeysAndPolicies,
    private readonly pipeline: () => ModelAttestationPipeline,
  ) {}

  async submit(
    principal: Principal,
    input: { modelVersionId: string; signature?: unknown; policyId?: string | null },
  ): Promise<ModelAttestation> {
    const version = isUuid(input.modelVersionId)
      ? await this.prisma.modelVersion.findFirst({
          where: { id: input.modelVersionId, organizationId: principal.organizationId },
        })
      : null;
    if (!version) throw notFound('Model version');
    const files = await this.prisma.modelFile.count({
      where: { modelVersionId: version.id, uploadedAt: { not: null } },
    });
    if (files === 0) {
      throw conflict('the model version has no uploaded files yet', 'NO_FILES');
    }
    const signature = input.signature ?? null;
    if (signature !== null) {
      if (typeof signature !== 'object' || Array.isArray(signature)) {
        throw badInput('signature must be the model.sig JSON object', { field: 'signature' });
      }
      if (Buffer.byteLength(JSON.stringify(signature)) > MAX_SIGNATURE_BYTES) {
        throw badInput(`signature is larger than ${MAX_SIGNATURE_BYTES} bytes`, {
          field: 'signature',
        });
      }
    }
    const policy = await this.keysAndPolicies.resolvePolicy(
      principal.organizationId,
      input.policyId ?? null,
    );
    const actor = actorOf(principal);
    const created = await this.prisma.$transaction(async (tx) => {
      const row = await tx.modelAttestation.create({
        data: {
          organizationId: principal.organizationId,
          modelVersionId: version.id,
          policyId: policy.policyId,
          policyVersion: policy.version,
          signatureBundle: signature ?? undefined,
          submittedBy: actor,
          job: { create: {} },
        },
      });
      await this.audit.append(
        principal.organizationId,
        {
          action: 'attestation.submitted',
          actor,
          subjectType: 'model-attestation',
          subjectId: row.id,
          detail: {
            modelVersionId: version.id,
            policy: `${policy.policyId}@${policy.version}`,
            signature: signature !== null,
          },
        },
        tx,
      );
      await this.audit.append(
        principal.organizationId,
        {
          action: 'attestation.status',
          actor,
          subjectType: 'model-attestation',
          subjectId: row.id,
          detail: { status: 'PENDING' },
        },
        tx,
      );
      return row;
    });
    await this.pipeline().announce(principal.organizationId, created.id, 'PENDING');
    this.pipeline().wake();
    return created;
  }

  find(principal: Principal, id: string): Promise<ModelAttestation | null> {
    if (!isUuid(id)) return Promise.resolve(null);
    return this.prisma.modelAttestation.findFirst({
      where: { id, organizationId: principal.organizationId },
    });
  }

  /**
   * The `modelAttestationUpdated` stream of one subscriber: events are checked against the
   * subscriber's organization here, and each delivers the attestation as stored at that moment.
   */
  async stream(
    events: EventBus,
    principal: Principal,
    id: string | null,
    options: { limit: number },
  ): Promise<AsyncIterableIterator<{ modelAttestationUpdated: ModelAttestation }>> {
    if (id !== null && !(await this.find(principal, id))) throw notFound('Model attestation');
    let unsubscribe: (() => Promise<void>) | null = null;
    let ended = false;
    const queue = new EventQueue<{ modelAttestationUpdated: ModelAttestation }>({
      limit: options.limit,
      policy: 'close',
      onEnd: () => {
        ended = true;
        void unsubscribe?.();
      },
    });
    // Reads keep the order events arrived in: each waits for the one before it.
    let previous: Promise<void> = Promise.resolve();
    const subscription = await events.subscribe(modelAttestationStatusTopic, (payload) => {
      const event = payload as { organizationId?: unknown; id?: unknown; status?: unknown };
      if (event.organizationId !== principal.organizationId || typeof event.id !== 'string') return;
      if (id !== null && event.id !== id) return;
      const attestationId = event.id;
      previous = previous
        .then(async () => {
          const row = await this.find(principal, attestationId);
          // The status is the event's: the row may have moved on since, and each change counts.
          const status = event.status as ModelAttestation['status'] | undefined;
          if (row) queue.push({ modelAttestationUpdated: status ? { ...row, status } : row });
        })
        .catch(() => undefined);
    });
    unsubscribe = subscription;
    if (ended) await subscription();
    return queue;
  }
}
