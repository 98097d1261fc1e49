import type {
  Prisma,
  PrismaClient,
} from '../../../generated/prisma/hardware-attestation/client.ts';
import type { EventBus } from '../../../platform/events/index.ts';
import type { Logger } from '../../../platform/logger.ts';

/** Any number that identifies the outbox publisher's advisory lock across replicas. */
const publisherLock = 0x4c42_4f58; // "LBOX"
const batchSize = 200;

type Transaction = Prisma.TransactionClient;

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

  /** Adds an event to the transaction `tx`. */
  static async add(tx: Transaction, topic: string, payload: unknown): Promise<void> {
    await tx.outboxEvent.create({ data: { topic, payload: payload as Prisma.InputJsonValue } });
  }

  /** Adds several events to `tx` in order. */
  static async addMany(
    tx: Transaction,
    events: { topic: string; payload: unknown }[],
  ): Promise<void> {
    if (events.length === 0) return;
    await tx.outboxEvent.createMany({
      data: events.map((e) => ({ topic: e.topic, payload: e.payload as Prisma.InputJsonValue })),
    });
  }

  /** Polls for events other replicas wrote but did not publish (they crashed, or the bus was down). */
  start(): void {
    this.timer = setInterval(() => this.notify(), this.pollMs);
    this.timer.unref();
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
        const rows = await tx.outboxEvent.findMany({
          where: { publishedAt: null },
          orderBy: { id: 'asc' },
          take: batchSize,
        });
        for (const row of rows) await this.events.publish(row.topic, row.payload);
        if (rows.length > 0) {
          await tx.outboxEvent.updateMany({
            where: { id: { in: rows.map((r) => r.id) } },
            data: { publishedAt: new Date() },
          });
        }
        return rows.length;
      },
      { timeout: 30_000 },
    );
  }
}
