import type { Prisma } from '../../../generated/prisma/hardware-attestation/client.ts';
import type { GpuState, NodeSnapshot } from '../../../gpu-agent/model.ts';
import {
  gpuNodeSnapshotTopic,
  hardwareAttestationDriftTopic,
  hardwareAttestationStatusTopic,
} from '../../../platform/events/topics.ts';
import type { Unsubscribe } from '../../../platform/events/index.ts';
import { newNonce } from './challenges.ts';
import type { HardwareAttestationDeps } from './deps.ts';
import type { GpuEvidence } from './evidence.ts';
import { choosePolicy } from './lifecycle.ts';
import { recordFromEvent } from './records.ts';
import { storeSubmission, type JobInput } from './submit.ts';

/** A GPU's state as its node last reported it on the bus. */
export interface ObservedGpu {
  /** When this replica received the report (its own clock). */
  receivedAt: number;
  organizationId: string;
  nodeId: string;
  hostname: string;
  driverVersion: string | null;
  cudaVersion: string | null;
  collectedAt: string;
  gpu: GpuState;
}

/** What a VERIFIED result vouched for; a change to any of these is drift. */
interface Baseline {
  attestationId: string;
  driverVersion: string | null;
  vbiosVersion: string | null;
  confidentialComputeMode: string | null;
  drifted: boolean;
}

/** Any number that identifies the re-attestation scheduler's advisory lock across replicas. */
const schedulerLock = 0x4c42_5241; // "LBRA"

/** Evidence from a node report, bound to a fresh server nonce. */
export function evidenceFromReport(observed: ObservedGpu, nonce: string): GpuEvidence {
  const { gpu } = observed;
  return {
    nonce,
    collectedAt: observed.collectedAt,
    node: {
      id: observed.nodeId,
      hostname: observed.hostname,
      driverVersion: observed.driverVersion,
      cudaVersion: observed.cudaVersion,
    },
    gpu: {
      uuid: gpu.uuid,
      index: gpu.index,
      name: gpu.name,
      serial: gpu.serial,
      vbiosVersion: gpu.vbiosVersion,
      pciBusId: gpu.pciBusId,
      pciDeviceId: null,
      architecture: gpu.architecture,
      memoryTotalMiB: gpu.memoryTotalMiB,
      eccEnabled: gpu.eccEnabled,
      eccErrors: gpu.eccErrors,
      retiredPages: gpu.retiredPages,
      remappedRows: gpu.remappedRows,
      migMode: gpu.migMode,
      migInstances: gpu.migInstances.map((i) => ({
        gpuInstanceId: i.gpuInstanceId,
        profile: i.profile,
        memoryMiB: i.memoryMiB,
      })),
      confidentialComputeMode: gpu.confidentialComputeMode,
      confidentialComputeReady: gpu.confidentialComputeReady ?? null,
    },
  };
}

/**
 * Watches the gpu-agent's node reports (on the event bus) for two things: drift — a GPU whose
 * driver, VBIOS or CC mode changed after a VERIFIED attestation, recorded once (whichever replica
 * sees it first wins a conditional update) and re-attested at once — and the periodic
 * re-attestation of every GPU that was attested before, REATTESTATION_INTERVAL_HOURS after its
 * last attestation.
 */
export class GpuStateMonitor {
  private readonly observed = new Map<string, ObservedGpu>();
  private readonly baselines = new Map<string, Baseline | null>();
  private readonly subscriptions: Unsubscribe[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly deps: HardwareAttestationDeps) {}

  async start(): Promise<void> {
    const { events, config } = this.deps;
    this.subscriptions.push(
      await events.subscribe(gpuNodeSnapshotTopic, (payload) => this.onReport(payload)),
      await events.subscribe(hardwareAttestationStatusTopic, (payload) => {
        const record = recordFromEvent(payload);
        // A new final result is the new baseline; read it again when next needed.
        if (record && record.status === 'VERIFIED') this.baselines.delete(record.gpuUuid);
      }),
    );
    if (config.REATTESTATION_INTERVAL_HOURS > 0) {
      const everyMs = Math.min(60_000, (config.REATTESTATION_INTERVAL_HOURS * 3_600_000) / 10);
      this.timer = setInterval(() => {
        void this.reattestDue().catch((err: unknown) =>
          this.deps.logger.warn({ err }, 're-attestation round failed; will retry'),
        );
      }, everyMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled(this.subscriptions.map((unsubscribe) => unsubscribe()));
  }

  /**
   * The GPU as its node last reported it, when that report is the organization's and recent (the
   * gpu-agent would answer the same from its own copy); null otherwise, and the caller asks the
   * gpu-agent.
   */
  observedGpu(organizationId: string, gpuUuid: string): ObservedGpu | null {
    const observed = this.observed.get(gpuUuid);
    if (!observed || observed.organizationId !== organizationId) return null;
    const ageMs = Date.now() - observed.receivedAt;
    return ageMs <= this.deps.config.GPU_NODE_OFFLINE_AFTER_SECONDS * 1000 ? observed : null;
  }

  private onReport(payload: unknown): void {
    const event = payload as {
      id?: string;
      organizationId?: string;
      snapshot?: NodeSnapshot | null;
    };
    if (!event.id || !event.organizationId || !event.snapshot) return;
    for (const gpu of event.snapshot.gpus) {
      const observed: ObservedGpu = {
        receivedAt: Date.now(),
        organizationId: event.organizationId,
        nodeId: event.id,
        hostname: event.snapshot.hostname,
        driverVersion: event.snapshot.driverVersion,
        cudaVersion: event.snapshot.cudaVersion,
        collectedAt: event.snapshot.collectedAt,
        gpu,
      };
      this.observed.set(gpu.uuid, observed);
      void this.checkDrift(observed).catch((err: unknown) =>
        this.deps.logger.warn({ err, gpuUuid: gpu.uuid }, 'drift check failed'),
      );
    }
  }

  private async baselineOf(organizationId: string, gpuUuid: string): Promise<Baseline | null> {
    if (this.baselines.has(gpuUuid)) return this.baselines.get(gpuUuid) ?? null;
    const latest = await this.deps.prisma.attestation.findFirst({
      where: { organizationId, gpuUuid, status: { in: ['VERIFIED', 'FAILED', 'ERROR'] } },
      orderBy: [{ completedAt: 'desc' }, { id: 'desc' }],
      include: { job: true },
    });
    const evidence = (latest?.job?.input as unknown as JobInput | undefined)?.evidence ?? null;
    const baseline: Baseline | null =
      latest?.status === 'VERIFIED' && evidence
        ? {
            attestationId: latest.id,
            driverVersion: evidence.node.driverVersion,
            vbiosVersion: evidence.gpu.vbiosVersion,
            confidentialComputeMode: evidence.gpu.confidentialComputeMode,
            drifted: latest.driftDetectedAt !== null,
          }
        : null;
    this.baselines.set(gpuUuid, baseline);
    return baseline;
  }

  private async checkDrift(observed: ObservedGpu): Promise<void> {
    if (this.stopped) return;
    const baseline = await this.baselineOf(observed.organizationId, observed.gpu.uuid);
    if (!baseline || baseline.drifted) return;
    const changes = (
      [
        ['driverVersion', baseline.driverVersion, observed.driverVersion],
        ['vbiosVersion', baseline.vbiosVersion, observed.gpu.vbiosVersion],
        [
          'confidentialComputeMode',
          baseline.confidentialComputeMode,
          observed.gpu.confidentialComputeMode,
        ],
      ] as const
    )
      .filter(([, before, after]) => before !== after)
      .map(([field, before, after]) => ({ field, before, after }));
    if (changes.length === 0) return;
    baseline.drifted = true;
    const { prisma } = this.deps;
    const policy = await choosePolicy(prisma, observed.organizationId, null);
    const recorded = await prisma.$transaction(async (tx) => {
      const won = await tx.attestation.updateMany({
        where: { id: baseline.attestationId, driftDetectedAt: null },
        data: { driftDetectedAt: new Date(), drift: { changes } },
      });
      if (won.count === 0) return false;
      const detail = {
        organizationId: observed.organizationId,
        gpuUuid: observed.gpu.uuid,
        attestationId: baseline.attestationId,
        changes,
      };
      await tx.auditEntry.create({
        data: {
          organizationId: observed.organizationId,
          attestationId: baseline.attestationId,
          action: 'attestation.drift',
          actor: 'system:gpu-monitor',
          detail: detail,
        },
      });
      await tx.outboxEvent.create({
        data: { topic: hardwareAttestationDriftTopic, payload: detail },
      });
      await this.submitFor(observed, 'drift', policy, tx);
      return true;
    });
    if (recorded) {
      this.deps.logger.warn(
        { gpuUuid: observed.gpu.uuid, attestationId: baseline.attestationId, changes },
        'GPU drifted from its verified state; re-attesting',
      );
      this.deps.outbox.notify();
      this.deps.wakeWorkers();
    }
  }

  private async submitFor(
    observed: ObservedGpu,
    trigger: 'drift' | 'reattestation',
    policy: JobInput['policy'],
    tx: Prisma.TransactionClient,
  ): Promise<void> {
    const nonce = newNonce();
    await storeSubmission(
      this.deps,
      {
        organizationId: observed.organizationId,
        gpuUuid: observed.gpu.uuid,
        submittedBy: `system:${trigger}`,
        trigger,
        bindNonce: null,
        job: {
          evidence: evidenceFromReport(observed, nonce),
          rejectedEvidence: null,
          evidenceProblem: null,
          nonce,
          nrasToken: null,
          policy,
          source: 'reattestation',
        },
      },
      tx,
    );
  }

  /** Re-attests the GPUs whose last attestation is older than the interval (one replica at a time). */
  async reattestDue(): Promise<number> {
    const { prisma, config } = this.deps;
    const cutoff = new Date(Date.now() - config.REATTESTATION_INTERVAL_HOURS * 3_600_000);
    const candidates = [...this.observed.values()];
    if (candidates.length === 0) return 0;
    const submitted = await prisma.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`
          SELECT pg_try_advisory_xact_lock(${schedulerLock}) AS locked`;
        if (!lock?.locked) return 0;
        let count = 0;
        for (const observed of candidates) {
          const latest = await tx.attestation.findFirst({
            where: { organizationId: observed.organizationId, gpuUuid: observed.gpu.uuid },
            orderBy: { submittedAt: 'desc' },
          });
          // Only GPUs someone attested before are kept attested; in-flight ones are left alone.
          if (!latest || latest.submittedAt > cutoff) continue;
          if (latest.status === 'PENDING' || latest.status === 'RUNNING') continue;
          // The policy the GPU was last attested with, at its newest active version; the
          // platform default when that policy is gone.
          const policy = await choosePolicy(tx, observed.organizationId, latest.policyId).catch(
            () => choosePolicy(tx, observed.organizationId, null),
          );
          await this.submitFor(observed, 'reattestation', policy, tx);
          count += 1;
        }
        return count;
      },
      { timeout: 30_000 },
    );
    if (submitted > 0) {
      this.deps.outbox.notify();
      this.deps.wakeWorkers();
    }
    return submitted;
  }
}
