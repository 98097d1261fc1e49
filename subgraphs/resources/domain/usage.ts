import { z } from 'zod';
import { badInput } from '../../../platform/errors.ts';
import type { Prisma, PrismaClient } from '../../../generated/prisma/resources/client.ts';

export type UsageMetric =
  'API_COST_UNITS' | 'ATTESTATIONS' | 'GPU_ALLOCATION_HOURS' | 'STORAGE_BYTE_HOURS';

export const usageMetrics: readonly UsageMetric[] = [
  'API_COST_UNITS',
  'ATTESTATIONS',
  'GPU_ALLOCATION_HOURS',
  'STORAGE_BYTE_HOURS',
];

/** One metered fact. `eventId` is the producer's: the same id is counted once, however often sent. */
export const usageEventSchema = z.object({
  eventId: z.string().min(1).max(200),
  organizationId: z.string().uuid(),
  metric: z.enum(usageMetrics as [UsageMetric, ...UsageMetric[]]),
  amount: z.number().finite().nonnegative(),
  at: z.coerce.date(),
});

export type UsageEvent = z.infer<typeof usageEventSchema>;

export interface UsagePoint {
  hour: Date;
  metric: UsageMetric;
  amount: number;
}

/** The longest span one usage query covers. */
const MAX_SPAN_MS = 31 * 24 * 3600 * 1000;

/**
 * Hourly usage per organization and metric, counted exactly once per event id: the event's id
 * and its addition to the hour are one statement, so a replay (a producer's retry, an outbox
 * republishing, two replicas receiving the same event) finds the id taken and adds nothing.
 */
export class UsageMeter {
  constructor(private readonly prisma: PrismaClient) {}

  /** Records events; returns how many were new. */
  async record(events: readonly UsageEvent[], tx?: Prisma.TransactionClient): Promise<number> {
    const client = tx ?? this.prisma;
    let added = 0;
    for (const event of events) {
      added += await client.$executeRaw`
        WITH counted AS (
          INSERT INTO "UsageEvent" ("eventId", "organizationId", metric, amount, at, "recordedAt")
          VALUES (${event.eventId}, ${event.organizationId}::uuid, ${event.metric}, ${event.amount},
                  ${event.at.toISOString()}::timestamptz AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
          ON CONFLICT ("eventId") DO NOTHING
          RETURNING "organizationId", metric, amount, at
        )
        INSERT INTO "UsageHour" ("organizationId", metric, hour, amount)
        SELECT "organizationId", metric, date_trunc('hour', at), amount FROM counted
        ON CONFLICT ("organizationId", metric, hour)
        DO UPDATE SET amount = "UsageHour".amount + EXCLUDED.amount`;
    }
    return added;
  }

  /** The organization's hourly usage between `from` and `to`, oldest first. */
  async series(
    organizationId: string,
    range: { from?: Date | null; to?: Date | null; metric?: UsageMetric | null },
  ): Promise<UsagePoint[]> {
    const to = range.to ?? new Date();
    const from = range.from ?? new Date(to.getTime() - 24 * 3600 * 1000);
    if (from > to) throw badInput('from must not be after to', { field: 'from' });
    if (to.getTime() - from.getTime() > MAX_SPAN_MS) {
      throw badInput('a usage query covers at most 31 days', { field: 'from' });
    }
    const rows = await this.prisma.usageHour.findMany({
      where: {
        organizationId,
        hour: { gte: truncateToHour(from), lte: to },
        ...(range.metric ? { metric: range.metric } : {}),
      },
      orderBy: [{ hour: 'asc' }, { metric: 'asc' }],
    });
    return rows.map((row) => ({
      hour: row.hour,
      metric: row.metric as UsageMetric,
      amount: row.amount,
    }));
  }

  /** Forgets counted event ids older than `olderThan`; the hours they added stay. */
  async pruneEventIds(olderThan: Date): Promise<number> {
    const result = await this.prisma.usageEvent.deleteMany({
      where: { recordedAt: { lt: olderThan } },
    });
    return result.count;
  }
}

function truncateToHour(at: Date): Date {
  const hour = new Date(at);
  hour.setUTCMinutes(0, 0, 0);
  return hour;
}

/** RFC 4180 CSV with a header row: `hour,metric,amount`. */
export function usageCsv(points: readonly UsagePoint[]): string {
  const lines = ['hour,metric,amount'];
  for (const point of points) {
    lines.push(`${point.hour.toISOString()},${point.metric},${roundAmount(point.amount)}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

function roundAmount(amount: number): string {
  return Number.isInteger(amount) ? String(amount) : amount.toFixed(6).replace(/0+$/, '');
}
