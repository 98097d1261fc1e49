import { randomUUID } from 'node:crypto';
import type { CounterStore } from '../../platform/counters/index.ts';
import type { EventBus } from '../../platform/events/index.ts';
import { usageRecordedTopic } from '../../platform/events/topics.ts';
import type { Logger } from '../../platform/logger.ts';

/**
 * How long an hourly usage counter lives. Billing reads the closed hours, so a counter must
 * outlive its hour by enough for a daily export to catch up after a missed run.
 */
export const USAGE_RETENTION_SECONDS = 3 * 24 * 3600;

/** The counter key of `organizationId`'s usage in the UTC hour of `at`: `usage:<org>:<yyyy-mm-ddThh>`. */
export function usageKey(organizationId: string, at: Date = new Date()): string {
  return `usage:${organizationId}:${at.toISOString().slice(0, 13)}`;
}

/**
 * Adds charged cost to each organization's hourly usage counter for billing. Not awaited by the
 * request: a slow or failing counter store must not delay or fail the operation. Failures are
 * logged once per outage, not once per request.
 */
export class UsageRecorder {
  private failing = false;

  constructor(
    private readonly counters: CounterStore,
    private readonly logger: Logger,
    private readonly meter: UsageBatcher | null = null,
  ) {}

  /** Adds `cost` (rounded up) to the organization's counter for the current hour. */
  record(organizationId: string, cost: number): void {
    if (cost <= 0) return;
    this.meter?.add(organizationId, Math.ceil(cost));
    this.counters
      .increment(usageKey(organizationId), USAGE_RETENTION_SECONDS, Math.ceil(cost))
      .then(() => {
        if (!this.failing) return;
        this.failing = false;
        this.logger.info('usage counters recording again');
      })
      .catch((err: unknown) => {
        if (this.failing) return;
        this.failing = true;
        this.logger.warn({ err }, 'could not record usage for billing; usage is being lost');
      });
  }
}

interface UsageBatch {
  events: {
    eventId: string;
    organizationId: string;
    metric: 'API_COST_UNITS';
    amount: number;
    at: string;
  }[];
}

/** Batches kept while the event bus is down, before the oldest are given up (and logged). */
const MAX_UNSENT_BATCHES = 360;

/**
 * Sums charged cost per organization and publishes it to the resources subgraph's meter every
 * `intervalMs` (one event a request would be a message storm). Every batch gets event ids once and
 * keeps them when resent, so a publish that failed or was delivered twice is counted once.
 */
export class UsageBatcher {
  private pending = new Map<string, number>();
  private unsent: UsageBatch[] = [];
  private sequence = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly instanceId = randomUUID();

  constructor(
    private readonly events: EventBus,
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  add(organizationId: string, cost: number): void {
    this.pending.set(organizationId, (this.pending.get(organizationId) ?? 0) + cost);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Publishes what was added since the last flush, and any batch an earlier flush could not send. */
  async flush(): Promise<void> {
    if (this.pending.size > 0) {
      const at = new Date().toISOString();
      this.sequence += 1;
      this.unsent.push({
        events: [...this.pending].map(([organizationId, amount]) => ({
          eventId: `gateway:${this.instanceId}:${this.sequence}:${organizationId}`,
          organizationId,
          metric: 'API_COST_UNITS',
          amount,
          at,
        })),
      });
      this.pending = new Map();
    }
    if (this.unsent.length > MAX_UNSENT_BATCHES) {
      const dropped = this.unsent.splice(0, this.unsent.length - MAX_UNSENT_BATCHES);
      this.logger.error(
        { batches: dropped.length },
        'usage batches dropped after a long event-bus outage',
      );
    }
    while (this.unsent.length > 0) {
      const batch = this.unsent[0];
      try {
        await this.events.publish(usageRecordedTopic, batch);
      } catch (err) {
        this.logger.warn(
          { err, waiting: this.unsent.length },
          'could not publish metered usage; will resend',
        );
        return;
      }
      this.unsent.shift();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
