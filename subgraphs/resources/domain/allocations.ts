import type { Principal } from '../../../platform/auth/principal.ts';
import type { Config } from '../../../platform/config.ts';
import { randomUUID } from 'node:crypto';
import { isUuid } from '../../../platform/ids.ts';
import { badInput, conflict, DomainError, notFound } from '../../../platform/errors.ts';
import type { EventBus } from '../../../platform/events/index.ts';
import { allocationChangedTopic } from '../../../platform/events/topics.ts';
import type { Logger } from '../../../platform/logger.ts';
import {
  Prisma,
  type Allocation,
  type PrismaClient,
} from '../../../generated/prisma/resources/client.ts';
import type { FleetSource } from './fleet.ts';
import {
  book,
  choosePlacement,
  offersProfile,
  type GpuCapacity,
  type PlacementRequest,
} from './placement.ts';
import { windowKey, type QuotaService } from './quotas.ts';
import type { UsageEvent, UsageMeter } from './usage.ts';

export interface AllocateInput {
  profile: string;
  nodeId?: string | null;
  durationSeconds: number;
}

interface AllocationDeps {
  prisma: PrismaClient;
  quotas: QuotaService;
  usage: UsageMeter;
  events: EventBus;
  fleet: FleetSource;
  config: Pick<Config, 'ALLOCATION_MAX_SECONDS'>;
  logger: Logger;
}

type Tx = Prisma.TransactionClient;

const MIN_DURATION_SECONDS = 60;
/** Slots on the placement axis a whole GPU spans: allocation hours count a slice's share of it. */
const GPU_SLOTS = 8;
const txOptions = { maxWait: 30_000, timeout: 30_000 };
/** Requests decided in one transaction at most. */
const MAX_BATCH = 250;

interface Pending {
  principal: Principal;
  request: PlacementRequest;
  fleet: GpuCapacity[];
  durationSeconds: number;
  resolve: (allocation: Allocation) => void;
  reject: (error: Error) => void;
}

/** GPU hours an allocation of `size` slots consumes over `seconds` (a 1g slice is 1/8 of a GPU). */
export function allocationHours(seconds: number, size: number): number {
  return (seconds / 3600) * (Math.min(size, GPU_SLOTS) / GPU_SLOTS);
}

/**
 * GPU and MIG-slice leases. One organization's allocations are decided one at a time (a
 * transaction-scoped advisory lock, on any replica), against the bookings in the database, and
 * every booked slot is a row whose primary key is (GPU, slot): even a bug in the locking could not
 * put two allocations on one slot. Expired leases are ended by the sweeper and, lazily, by the
 * next allocation of the same organization.
 */
export class AllocationService {
  private readonly queues = new Map<string, Pending[]>();
  private readonly draining = new Set<string>();

  constructor(private readonly deps: AllocationDeps) {}

  async allocate(principal: Principal, authorization: string, input: AllocateInput) {
    const profile = input.profile.trim();
    if (profile.length === 0 || profile.length > 40) {
      throw badInput('profile must be GPU or a MIG profile name or id (1 to 40 characters)', {
        field: 'profile',
      });
    }
    const max = this.deps.config.ALLOCATION_MAX_SECONDS;
    if (
      !Number.isInteger(input.durationSeconds) ||
      input.durationSeconds < MIN_DURATION_SECONDS ||
      input.durationSeconds > max
    ) {
      throw badInput(`durationSeconds must be an integer from ${MIN_DURATION_SECONDS} to ${max}`, {
        field: 'durationSeconds',
      });
    }
    const organizationId = principal.organizationId;
    const fleet = await this.deps.fleet.capacity(organizationId, authorization);
    if (input.nodeId && !fleet.some((gpu) => gpu.nodeId === input.nodeId)) {
      throw notFound('GPU node');
    }
    const request = { profile, nodeId: input.nodeId ?? null };
    if (!offersProfile(fleet, request)) {
      throw badInput(
        `No GPU ${input.nodeId ? 'on that node' : 'of the organization'} offers ${profile}: ` +
          'use GPU for a whole GPU with MIG off, or a profile its MIG-enabled GPUs list',
        { field: 'profile' },
      );
    }

    return new Promise<Allocation>((resolve, reject) => {
      const queue = this.queues.get(organizationId) ?? [];
      queue.push({
        principal,
        request,
        fleet,
        durationSeconds: input.durationSeconds,
        resolve,
        reject,
      });
      this.queues.set(organizationId, queue);
      if (!this.draining.has(organizationId)) void this.drain(organizationId);
    });
  }

  /**
   * Decides the organization's queued requests in batches, one transaction each (group commit):
   * the bookings and the quota standing are read once per batch, each request is placed against
   * the bookings the previous ones in the batch made, and the batch is written in three bulk
   * inserts. One transaction per request would cap a burst at the database's round-trip rate.
   */
  private async drain(organizationId: string): Promise<void> {
    this.draining.add(organizationId);
    try {
      for (;;) {
        const queue = this.queues.get(organizationId) ?? [];
        if (queue.length === 0) break;
        const batch = queue.splice(0, MAX_BATCH);
        await this.decide(organizationId, batch);
      }
    } finally {
      this.draining.delete(organizationId);
      this.queues.delete(organizationId);
    }
  }

  private async decide(organizationId: string, batch: Pending[]): Promise<void> {
    const outcomes = new Map<Pending, Allocation | Error>();
    let ended: Allocation[] = [];
    try {
      await this.deps.prisma.$transaction(async (tx) => {
        outcomes.clear();
        await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`allocate:${organizationId}`}))::text`;
        const now = new Date();
        ended = await this.endExpired(tx, { organizationId }, now);
        // The freshest fleet snapshot of the batch: every request of one organization sees the same GPUs.
        const fleet = await this.bookedFleet(tx, batch.at(-1)?.fleet ?? []);
        const byGpu = new Map(fleet.map((gpu) => [gpu.gpuUuid, gpu]));
        const tier = batch[0]?.principal.tier ?? 'FREE';
        const limit = this.deps.quotas.limit(organizationId, tier, 'GPU_ALLOCATION_HOURS');
        const standing = await this.deps.quotas.standing(
          tx,
          organizationId,
          'GPU_ALLOCATION_HOURS',
          now,
        );
        const reservations: Prisma.QuotaReservationCreateManyInput[] = [];
        const allocations: Allocation[] = [];
        const slots: Prisma.AllocationSlotCreateManyInput[] = [];
        for (const pending of batch) {
          const choice = choosePlacement([...byGpu.values()], pending.request);
          if (!choice) {
            outcomes.set(
              pending,
              conflict(
                `No free capacity for ${pending.request.profile}${pending.request.nodeId ? ' on that node' : ''}: every fitting GPU or slice is allocated`,
                'NO_CAPACITY',
              ),
            );
            continue;
          }
          const hours = allocationHours(pending.durationSeconds, choice.size);
          const inUse = standing.used + standing.reserved;
          if (inUse + hours > limit + 1e-9) {
            outcomes.set(
              pending,
              new DomainError(
                'QUOTA_EXCEEDED',
                `GPU_ALLOCATION_HOURS quota exceeded: ${inUse.toFixed(2)} of ${limit} in use, ${hours.toFixed(2)} more asked`,
                { kind: 'GPU_ALLOCATION_HOURS', limit, used: inUse, reserved: 0, requested: hours },
              ),
            );
            continue;
          }
          standing.used += hours;
          const gpu = byGpu.get(choice.gpuUuid);
          if (gpu) byGpu.set(choice.gpuUuid, book(gpu, choice));
          const reservationId = randomUUID();
          reservations.push({
            id: reservationId,
            organizationId,
            kind: 'GPU_ALLOCATION_HOURS',
            amount: hours,
            state: 'COMMITTED',
            window: windowKey('GPU_ALLOCATION_HOURS', now),
            expiresAt: now,
            createdAt: now,
            settledAt: now,
          });
          const allocation: Allocation = {
            id: randomUUID(),
            organizationId,
            nodeId: choice.nodeId,
            hostname: choice.hostname,
            gpuUuid: choice.gpuUuid,
            gpuIndex: choice.gpuIndex,
            profile: choice.profile,
            placementStart: choice.start,
            placementSize: choice.size,
            gpuInstanceId: choice.gpuInstanceId,
            memoryMiB: choice.memoryMiB,
            state: 'ACTIVE',
            requestedBy: pending.principal.subject,
            reservationId,
            createdAt: now,
            leaseExpiresAt: new Date(now.getTime() + pending.durationSeconds * 1000),
            endedAt: null,
          };
          allocations.push(allocation);
          for (let i = 0; i < choice.size; i += 1) {
            slots.push({
              gpuUuid: choice.gpuUuid,
              slot: choice.start + i,
              allocationId: allocation.id,
            });
          }
          outcomes.set(pending, allocation);
        }
        if (allocations.length === 0) return;
        await tx.quotaReservation.createMany({ data: reservations });
        await tx.allocation.createMany({ data: allocations });
        await tx.allocationSlot.createMany({ data: slots });
      }, txOptions);
    } catch (error) {
      const failure =
        error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002'
          ? conflict('That GPU slice was just allocated elsewhere; try again', 'RACE')
          : error instanceof Error
            ? error
            : new Error(String(error));
      for (const pending of batch) pending.reject(failure);
      return;
    }
    for (const pending of batch) {
      const outcome = outcomes.get(pending);
      if (outcome instanceof Error || !outcome) pending.reject(outcome ?? new Error('undecided'));
      else pending.resolve(outcome);
    }
    const granted = [...outcomes.values()].filter((o): o is Allocation => !(o instanceof Error));
    await this.announce([...ended, ...granted]);
  }

  /** Ends an allocation now; one that already ended is answered unchanged. */
  async release(principal: Principal, id: string): Promise<Allocation> {
    const organizationId = principal.organizationId;
    const existing = isUuid(id)
      ? await this.deps.prisma.allocation.findFirst({ where: { id, organizationId } })
      : null;
    if (!existing) throw notFound('Allocation');
    if (existing.state !== 'ACTIVE') return existing;
    const ended = await this.deps.prisma.$transaction(
      (tx) => this.end(tx, existing, 'RELEASED', new Date()),
      txOptions,
    );
    if (ended) await this.announce([ended]);
    return ended ?? (await this.deps.prisma.allocation.findFirstOrThrow({ where: { id } }));
  }

  /** Ends every lease that ran out (any organization); returns how many. */
  async expireLeases(now = new Date()): Promise<number> {
    const ended = await this.deps.prisma.$transaction(
      (tx) => this.endExpired(tx, {}, now),
      txOptions,
    );
    await this.announce(ended);
    return ended.length;
  }

  private async endExpired(
    tx: Tx,
    scope: { organizationId?: string },
    now: Date,
  ): Promise<Allocation[]> {
    const due = await tx.allocation.findMany({
      where: { ...scope, state: 'ACTIVE', leaseExpiresAt: { lte: now } },
      take: 500,
    });
    const ended: Allocation[] = [];
    for (const allocation of due) {
      const result = await this.end(tx, allocation, 'EXPIRED', now);
      if (result) ended.push(result);
    }
    return ended;
  }

  /**
   * Frees the slots, settles the hours (an early release pays only for the time it ran) and
   * meters the time per UTC hour. Null when another transaction ended it first.
   */
  private async end(
    tx: Tx,
    allocation: Allocation,
    state: 'RELEASED' | 'EXPIRED',
    now: Date,
  ): Promise<Allocation | null> {
    const endedAt = now < allocation.leaseExpiresAt ? now : allocation.leaseExpiresAt;
    const claimed = await tx.allocation.updateMany({
      where: { id: allocation.id, state: 'ACTIVE' },
      data: { state, endedAt },
    });
    if (claimed.count === 0) return null;
    await tx.allocationSlot.deleteMany({ where: { allocationId: allocation.id } });
    const seconds = Math.max(0, (endedAt.getTime() - allocation.createdAt.getTime()) / 1000);
    if (allocation.reservationId) {
      await this.deps.quotas.release(
        allocation.organizationId,
        allocation.reservationId,
        { usedAmount: allocationHours(seconds, allocation.placementSize) },
        tx,
      );
    }
    await this.deps.usage.record(hourlyShares(allocation, allocation.createdAt, endedAt), tx);
    return { ...allocation, state, endedAt };
  }

  /** The fleet with every active allocation's range laid on its GPU. */
  private async bookedFleet(tx: Tx, fleet: GpuCapacity[]): Promise<GpuCapacity[]> {
    const active = await tx.allocation.findMany({
      where: { state: 'ACTIVE', gpuUuid: { in: fleet.map((gpu) => gpu.gpuUuid) } },
      select: { gpuUuid: true, placementStart: true, placementSize: true },
    });
    const byGpu = new Map<string, { start: number; size: number }[]>();
    for (const a of active) {
      const ranges = byGpu.get(a.gpuUuid) ?? [];
      ranges.push({ start: a.placementStart, size: a.placementSize });
      byGpu.set(a.gpuUuid, ranges);
    }
    return fleet.map((gpu) => ({ ...gpu, booked: byGpu.get(gpu.gpuUuid) ?? [] }));
  }

  private async announce(allocations: Allocation[]): Promise<void> {
    for (const a of allocations) {
      await this.deps.events
        .publish(allocationChangedTopic, {
          organizationId: a.organizationId,
          id: a.id,
          state: a.state,
          nodeId: a.nodeId,
          gpuUuid: a.gpuUuid,
          profile: a.profile,
          placementStart: a.placementStart,
          placementSize: a.placementSize,
          leaseExpiresAt: a.leaseExpiresAt.toISOString(),
        })
        .catch((err: unknown) =>
          this.deps.logger.warn(
            { err, allocationId: a.id },
            'could not announce allocation change',
          ),
        );
    }
  }
}

/** The allocation's GPU hours split by UTC hour, one usage event per hour (ids stable on replay). */
export function hourlyShares(
  allocation: Pick<Allocation, 'id' | 'organizationId' | 'placementSize'>,
  from: Date,
  to: Date,
): UsageEvent[] {
  const events: UsageEvent[] = [];
  let cursor = from.getTime();
  const end = to.getTime();
  while (cursor < end) {
    const hourStart = new Date(cursor);
    hourStart.setUTCMinutes(0, 0, 0);
    const next = Math.min(end, hourStart.getTime() + 3600_000);
    events.push({
      eventId: `allocation:${allocation.id}:${hourStart.toISOString()}`,
      organizationId: allocation.organizationId,
      metric: 'GPU_ALLOCATION_HOURS',
      amount: allocationHours((next - cursor) / 1000, allocation.placementSize),
      at: new Date(cursor),
    });
    cursor = next;
  }
  return events;
}
