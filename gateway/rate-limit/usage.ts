import type { CounterStore } from '../../platform/counters/index.ts';
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
  ) {}

  /** Adds `cost` (rounded up) to the organization's counter for the current hour. */
  record(organizationId: string, cost: number): void {
    if (cost <= 0) return;
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
