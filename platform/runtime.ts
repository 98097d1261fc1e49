import type { Config } from './config.ts';
import { createCounterStore, type CounterStore } from './counters/index.ts';
import { createEventBus, type EventBus } from './events/index.ts';
import { createLogger, type Logger } from './logger.ts';
import { createObjectStore, type ObjectStore } from './objects/index.ts';
import type { ReadinessCheck } from './subgraph-server.ts';

/**
 * The shared stores one process holds: event bus, counters and object store, each on its embedded
 * default or on Redis/S3 as configured. Services receive this instead of opening their own.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  events: EventBus;
  counters: CounterStore;
  objects: ObjectStore;
  /** Readiness checks for the shared stores, for every service's /readyz. */
  storeChecks: ReadinessCheck[];
  close(): Promise<void>;
}

export function createRuntime(config: Config, logger: Logger = createLogger(config)): Runtime {
  const events = createEventBus(config, logger);
  const counters = createCounterStore(config, logger);
  const objects = createObjectStore(config, logger);
  return {
    config,
    logger,
    events,
    counters,
    objects,
    storeChecks: [
      { name: `events:${events.kind}`, check: () => events.ping() },
      { name: `counters:${counters.kind}`, check: () => counters.ping() },
      { name: 'objects', check: () => objects.ping() },
    ],
    async close() {
      await Promise.allSettled([events.close(), counters.close(), objects.close()]);
    },
  };
}
