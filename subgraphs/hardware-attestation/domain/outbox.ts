import {
  Prisma,
  type PrismaClient,
} from '../../../generated/prisma/hardware-attestation/client.ts';
import type { EventBus } from '../../../platform/events/index.ts';
import type { Logger } from '../../../platform/logger.ts';

/** Any number that identifies the outbox publisher's advisory lock across replicas. */
const publisherLock = 0x4c42_4f58; // "LBOX"
const batchSize = 200;

/**
 * Status events leave through a transactional outbox: they are written in the transaction that
 * makes the change, so an event exists exactly when the change does, and are published here in id
 * order by one replica at a time (an advisory lock), then marked. A bus that is down only delays
 * them. A crash between publishing and marking re-publishes that batch (at least once).
 */
export class Outbox {
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly events: EventBus,
    private readonly logger: Logger,
    private readonly pollMs = 1_000,
  ) {}

  /**
   * Polls for events other replicas wrote but did not publish (they crashed, or the bus was
   * down), and every few minutes drops events published over an hour ago.
   */
  start(): void {
    let polls = 0;
    this.timer = setInterval(() => {
      this.notify();
      polls += 1;
      if (polls % 300 === 0) void this.prune();
    }, this.pollMs);
    this.timer.unref();
  }

  private async prune(): Promise<void> {
    try {
      await this.prisma.$executeRaw`
        DELETE FROM "OutboxEvent"
        WHERE "publishedAt" < (now() AT TIME ZONE 'UTC') - interval '1 hour'`;
    } catch (error) {
      this.logger.warn({ err: error }, 'pruning published attestation events failed');
    }
  }

  /** Publishes pending events soon; calls made while a flush runs coalesce into one more. */
  notify(): void {
    if (this.stopped) return;
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.notify();
      }
    });
  }

  /** Resolves once everything written so far has been published (or a flush failed). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.drain();
  }

  private async flushLoop(): Promise<void> {
    try {
      while (!this.stopped && (await this.flushBatch()) === batchSize) {
        // A full batch: there may be more.
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'attestation events not published yet; will retry');
    }
  }

  private async flushBatch(): Promise<number> {
    return this.prisma.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`
          SELECT pg_try_advisory_xact_lock(${publisherLock}) AS locked`;
        if (!lock?.locked) return 0;
        const rows = await tx.$queryRaw<{ id: bigint; topic: string; payload: unknown }[]>`
          SELECT id, topic, payload FROM "OutboxEvent"
          WHERE "publishedAt" IS NULL ORDER BY id LIMIT ${batchSize}::int`;
        // The row id travels with the event so a consumer can recognise a re-published batch.
        for (const row of rows) {
          await this.events.publish(row.topic, withOutboxSequence(row.payload, row.id));
        }
        if (rows.length > 0) {
          await tx.$executeRaw`
            UPDATE "OutboxEvent" SET "publishedAt" = (now() AT TIME ZONE 'UTC')
            WHERE id IN (${Prisma.join(rows.map((r) => r.id))})`;
        }
        return rows.length;
      },
      { timeout: 30_000 },
    );
  }
}

/**
 * The event as published: its payload plus `outboxSequence`, the outbox row id as a decimal
 * string. Within one attestation the sequence only grows, so a consumer that sees a sequence it
 * has already passed is looking at a re-published batch.
 */
export function withOutboxSequence(payload: unknown, id: bigint): unknown {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return payload;
  return { ...payload, outboxSequence: id.toString() };
}

/** The outbox sequence of a published event, or null when it carries none. */
export function outboxSequenceOf(payload: unknown): bigint | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const value = (payload as { outboxSequence?: unknown }).outboxSequence;
  return typeof value === 'string' && /^\d{1,19}$/.test(value) ? BigInt(value) : null;
}
