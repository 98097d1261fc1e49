import type { Config } from '../../../platform/config.ts';
import { reservableQuotaKinds, type ReservableQuotaKind } from '../../../platform/quota/kinds.ts';
import type { Tier } from '../../../platform/auth/roles.ts';
import { isUuid } from '../../../platform/ids.ts';
import { badInput, conflict, DomainError, notFound } from '../../../platform/errors.ts';
import type {
  Prisma,
  PrismaClient,
  QuotaReservation,
} from '../../../generated/prisma/resources/client.ts';

export type QuotaKind = ReservableQuotaKind | 'API_COST_UNITS_PER_MINUTE';

/** Kinds the resources subgraph keeps reservations for (API cost is the gateway's token bucket). */
export type ReservableKind = ReservableQuotaKind;
export const reservableKinds = reservableQuotaKinds;

/** How a kind counts: while held (gauges), or per UTC day or month. */
type Window = 'concurrent' | 'total' | 'day' | 'month';

const windows: Record<ReservableKind, Window> = {
  CONCURRENT_ATTESTATIONS: 'concurrent',
  MODEL_STORAGE_BYTES: 'total',
  ATTESTATIONS_PER_DAY: 'day',
  GPU_ALLOCATION_HOURS: 'month',
};

const GiB = 1024 ** 3;

/** Each tier's defaults; QUOTA_TIER_LIMITS changes them per tier, QUOTA_OVERRIDES per organization. */
export const tierQuotas: Record<Tier, Record<ReservableKind, number>> = {
  FREE: {
    CONCURRENT_ATTESTATIONS: 5,
    ATTESTATIONS_PER_DAY: 500,
    MODEL_STORAGE_BYTES: 10 * GiB,
    GPU_ALLOCATION_HOURS: 100,
  },
  PRO: {
    CONCURRENT_ATTESTATIONS: 50,
    ATTESTATIONS_PER_DAY: 10_000,
    MODEL_STORAGE_BYTES: 1024 * GiB,
    GPU_ALLOCATION_HOURS: 5_000,
  },
  ENTERPRISE: {
    CONCURRENT_ATTESTATIONS: 500,
    ATTESTATIONS_PER_DAY: 1_000_000,
    MODEL_STORAGE_BYTES: 100 * 1024 * GiB,
    GPU_ALLOCATION_HOURS: 1_000_000,
  },
};

type QuotaConfig = Pick<
  Config,
  | 'QUOTA_OVERRIDES'
  | 'QUOTA_TIER_LIMITS'
  | 'QUOTA_RESERVATION_TTL_SECONDS'
  | 'RATE_LIMIT_FREE'
  | 'RATE_LIMIT_PRO'
  | 'RATE_LIMIT_ENTERPRISE'
  | 'RATE_LIMIT_WINDOW_SECONDS'
>;

/** The window a claim made at `at` counts in: `2026-11-30`, `2026-11`, or '' for gauges. */
export function windowKey(kind: ReservableKind, at: Date): string {
  const window = windows[kind];
  if (window === 'day') return at.toISOString().slice(0, 10);
  if (window === 'month') return at.toISOString().slice(0, 7);
  return '';
}

/** When the window that holds `at` ends; null for gauges. */
function windowEnd(kind: ReservableKind, at: Date): Date | null {
  const window = windows[kind];
  if (window === 'day') {
    return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1));
  }
  if (window === 'month') return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return null;
}

export interface QuotaLimitView {
  kind: QuotaKind;
  limit: number;
  used: number | null;
  reserved: number | null;
  remaining: number | null;
  window: string;
  resetsAt: Date | null;
  overridden: boolean;
}

export interface ReserveInput {
  kind: ReservableKind;
  amount: number;
  ttlSeconds?: number | null;
  idempotencyKey?: string | null;
  subject?: string | null;
}

type Tx = Prisma.TransactionClient;

/**
 * Quotas by tier with reserve / commit / release. A reservation counts against the limit from the
 * moment it is made until it is committed (then it counts as used) or released, or until it
 * expires: a consumer that crashes in between leaks nothing for longer than its TTL. Checks and
 * claims for one organization and kind are serialized with a transaction-scoped advisory lock, so
 * replicas cannot both take the last unit.
 */
export class QuotaService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly config: QuotaConfig,
  ) {}

  limit(organizationId: string, tier: Tier, kind: ReservableKind): number {
    return (
      this.config.QUOTA_OVERRIDES[organizationId]?.[kind] ??
      this.config.QUOTA_TIER_LIMITS[tier]?.[kind] ??
      tierQuotas[tier][kind]
    );
  }

  /** Every quota of the organization with its use now. */
  async limits(organizationId: string, tier: Tier, now = new Date()): Promise<QuotaLimitView[]> {
    const views: QuotaLimitView[] = await Promise.all(
      reservableKinds.map(async (kind): Promise<QuotaLimitView> => {
        const limit = this.limit(organizationId, tier, kind);
        const { used, reserved } = await this.usage(this.prisma, organizationId, kind, now);
        return {
          kind,
          limit,
          used,
          reserved,
          remaining: Math.max(0, limit - used - reserved),
          window: windows[kind],
          resetsAt: windowEnd(kind, now),
          overridden: this.config.QUOTA_OVERRIDES[organizationId]?.[kind] !== undefined,
        };
      }),
    );
    const perMinute = {
      FREE: this.config.RATE_LIMIT_FREE,
      PRO: this.config.RATE_LIMIT_PRO,
      ENTERPRISE: this.config.RATE_LIMIT_ENTERPRISE,
    }[tier];
    // The gateway's token bucket enforces this one; its state is in the RateLimit-* headers.
    views.push({
      kind: 'API_COST_UNITS_PER_MINUTE',
      limit: Math.round((perMinute * 60) / this.config.RATE_LIMIT_WINDOW_SECONDS),
      used: null,
      reserved: null,
      remaining: null,
      window: 'minute',
      resetsAt: null,
      overridden: false,
    });
    return views;
  }

  /** Claims `amount` of `kind`, or throws QUOTA_EXCEEDED with the limit and current use. */
  async reserve(
    organizationId: string,
    tier: Tier,
    input: ReserveInput,
  ): Promise<QuotaReservation> {
    validate(input);
    const run = async (client: Tx) => {
      await lock(client, organizationId, input.kind);
      if (input.idempotencyKey) {
        const existing = await client.quotaReservation.findUnique({
          where: {
            organizationId_idempotencyKey: {
              organizationId,
              idempotencyKey: input.idempotencyKey,
            },
          },
        });
        if (existing) return existing;
      }
      const now = new Date();
      const limit = this.limit(organizationId, tier, input.kind);
      const { used, reserved } = await this.usage(client, organizationId, input.kind, now);
      if (used + reserved + input.amount > limit) {
        throw new DomainError(
          'QUOTA_EXCEEDED',
          `${input.kind} quota exceeded: ${formatAmount(used + reserved)} of ${formatAmount(limit)} in use, ${formatAmount(input.amount)} more asked`,
          { kind: input.kind, limit, used, reserved, requested: input.amount },
        );
      }
      const ttl = input.ttlSeconds ?? this.config.QUOTA_RESERVATION_TTL_SECONDS;
      return client.quotaReservation.create({
        data: {
          organizationId,
          kind: input.kind,
          amount: input.amount,
          window: windowKey(input.kind, now),
          subject: input.subject ?? null,
          idempotencyKey: input.idempotencyKey ?? null,
          expiresAt: new Date(now.getTime() + ttl * 1000),
        },
      });
    };
    return this.prisma.$transaction(run, { maxWait: 30_000, timeout: 30_000 });
  }

  /**
   * Turns a reservation into use, optionally of less than was reserved (never more). An expired
   * reservation cannot be committed: its units may already be someone else's.
   */
  async commit(
    organizationId: string,
    id: string,
    options: { amount?: number | null; subject?: string | null } = {},
  ): Promise<QuotaReservation> {
    const client = this.prisma;
    const reservation = await this.find(client, organizationId, id);
    if (reservation.state === 'COMMITTED') return reservation;
    if (reservation.state !== 'RESERVED' || reservation.expiresAt <= new Date()) {
      throw conflict(
        `Reservation ${id} is ${reservation.state === 'RESERVED' ? 'EXPIRED' : reservation.state}; reserve again`,
        'RESERVATION_ENDED',
      );
    }
    const amount = options.amount ?? reservation.amount;
    if (!(amount >= 0) || amount > reservation.amount) {
      throw badInput(`amount must be between 0 and the reserved ${reservation.amount}`, {
        field: 'amount',
      });
    }
    const updated = await client.quotaReservation.updateMany({
      where: { id, organizationId, state: 'RESERVED' },
      data: {
        state: 'COMMITTED',
        amount,
        settledAt: new Date(),
        ...(options.subject ? { subject: options.subject } : {}),
      },
    });
    if (updated.count === 0) return this.commit(organizationId, id, options);
    return this.find(client, organizationId, id);
  }

  /**
   * Gives a claim back: a reservation not yet committed, or a gauge's committed hold (a finished
   * attestation, deleted storage). Committed use in a day or month window stays spent, except that
   * `usedAmount` settles it lower (an allocation released early pays for the hours it ran).
   */
  async release(
    organizationId: string,
    id: string,
    options: { usedAmount?: number } = {},
    tx?: Tx,
  ): Promise<QuotaReservation> {
    const client = tx ?? this.prisma;
    const reservation = await this.find(client, organizationId, id);
    const kind = reservation.kind as ReservableKind;
    if (
      reservation.state === 'COMMITTED' &&
      windows[kind] !== 'concurrent' &&
      windows[kind] !== 'total'
    ) {
      if (options.usedAmount === undefined || options.usedAmount >= reservation.amount) {
        return reservation;
      }
      return client.quotaReservation.update({
        where: { id },
        data: { amount: Math.max(0, options.usedAmount), settledAt: new Date() },
      });
    }
    if (reservation.state !== 'RESERVED' && reservation.state !== 'COMMITTED') return reservation;
    await client.quotaReservation.updateMany({
      where: { id, organizationId, state: reservation.state },
      data: { state: 'RELEASED', settledAt: new Date() },
    });
    return this.find(client, organizationId, id);
  }

  /**
   * Ends the gauge holds taken for `subject` (an attestation that finished): what the consumer's
   * own release would do, for consumers that learn of the end from an event rather than a call.
   */
  async releaseSubject(
    organizationId: string,
    kind: ReservableKind,
    subject: string,
  ): Promise<number> {
    const result = await this.prisma.quotaReservation.updateMany({
      where: { organizationId, kind, subject, state: { in: ['RESERVED', 'COMMITTED'] } },
      data: { state: 'RELEASED', settledAt: new Date() },
    });
    return result.count;
  }

  /**
   * Releases concurrency holds older than `maxAgeMs`: a hold whose end event was lost (the bus is
   * at-most-once) must not cap the organization forever.
   */
  async releaseStaleHolds(
    kind: ReservableKind,
    maxAgeMs: number,
    now = new Date(),
  ): Promise<number> {
    const result = await this.prisma.quotaReservation.updateMany({
      where: { kind, state: 'COMMITTED', createdAt: { lt: new Date(now.getTime() - maxAgeMs) } },
      data: { state: 'RELEASED', settledAt: now },
    });
    return result.count;
  }

  /** Marks reservations past their TTL EXPIRED (they already stopped counting); returns how many. */
  async expireReservations(now = new Date()): Promise<number> {
    const result = await this.prisma.quotaReservation.updateMany({
      where: { state: 'RESERVED', expiresAt: { lte: now } },
      data: { state: 'EXPIRED', settledAt: now },
    });
    return result.count;
  }

  private async find(client: Tx | PrismaClient, organizationId: string, id: string) {
    const reservation = isUuid(id)
      ? await client.quotaReservation.findFirst({ where: { id, organizationId } })
      : null;
    if (!reservation) throw notFound('Quota reservation');
    return reservation;
  }

  /**
   * Committed and pending use of one kind in its current window, for callers that decide many
   * claims in one transaction (allocation batches) under the same lock `reserve` takes.
   */
  async standing(
    client: Tx,
    organizationId: string,
    kind: ReservableKind,
    now: Date,
  ): Promise<{ used: number; reserved: number }> {
    await lock(client, organizationId, kind);
    return this.usage(client, organizationId, kind, now);
  }

  private async usage(
    client: Tx | PrismaClient,
    organizationId: string,
    kind: ReservableKind,
    now: Date,
  ): Promise<{ used: number; reserved: number }> {
    const window = windowKey(kind, now);
    const [committed, pending] = await Promise.all([
      client.quotaReservation.aggregate({
        _sum: { amount: true },
        where: { organizationId, kind, state: 'COMMITTED', window },
      }),
      client.quotaReservation.aggregate({
        _sum: { amount: true },
        where: { organizationId, kind, state: 'RESERVED', window, expiresAt: { gt: now } },
      }),
    ]);
    return { used: committed._sum.amount ?? 0, reserved: pending._sum.amount ?? 0 };
  }
}

function validate(input: ReserveInput): void {
  if (!reservableKinds.includes(input.kind)) {
    throw badInput(`kind must be one of ${reservableKinds.join(', ')}`, { field: 'kind' });
  }
  if (!Number.isFinite(input.amount) || input.amount <= 0) {
    throw badInput('amount must be a positive number', { field: 'amount' });
  }
  if (
    input.ttlSeconds != null &&
    (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 1 || input.ttlSeconds > 86_400)
  ) {
    throw badInput('ttlSeconds must be an integer from 1 to 86400', { field: 'ttlSeconds' });
  }
  if (
    input.idempotencyKey != null &&
    (input.idempotencyKey.length < 1 || input.idempotencyKey.length > 200)
  ) {
    throw badInput('idempotencyKey must be 1 to 200 characters', { field: 'idempotencyKey' });
  }
}

/** Serializes claims on one organization's kind across replicas until the transaction ends. */
async function lock(client: Tx, organizationId: string, kind: string): Promise<void> {
  await client.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`quota:${organizationId}:${kind}`}))::text`;
}

function formatAmount(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
