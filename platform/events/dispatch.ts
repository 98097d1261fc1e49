import type { Logger } from '../logger.ts';
import type { EventHandler } from './types.ts';

/** One registration; a wrapper so the same function can be subscribed twice independently. */
export interface Subscription {
  handler: EventHandler;
}

/**
 * Calls each handler in turn. A handler that throws or rejects is logged and does not affect the
 * others or the publisher: subscribers belong to unrelated features.
 */
export function dispatch(
  subscriptions: Iterable<Subscription>,
  isActive: (s: Subscription) => boolean,
  topic: string,
  payload: unknown,
  logger: Logger,
): void {
  for (const subscription of subscriptions) {
    // Unsubscribing promises no further deliveries, even of events already in flight.
    if (!isActive(subscription)) continue;
    try {
      const result = subscription.handler(payload, topic);
      if (result instanceof Promise) {
        result.catch((err: unknown) => logger.error({ err, topic }, 'event handler failed'));
      }
    } catch (err) {
      logger.error({ err, topic }, 'event handler failed');
    }
  }
}

/** Runs synchronous work so that its exceptions become rejections, as callers of a Promise expect. */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
