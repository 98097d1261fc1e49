import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { MemoryCounterStore, type MemoryCounterOptions } from './memory.ts';
import { RedisCounterStore } from './redis.ts';
import type { CounterStore } from './types.ts';

export type { CounterStore, CounterValue } from './types.ts';
export { MAX_COUNTER_KEY_LENGTH } from './types.ts';
export { MemoryCounterStore, type MemoryCounterOptions } from './memory.ts';
export { RedisCounterStore } from './redis.ts';

/** The counter store the configuration asks for: Redis when `REDIS_URL` is set, else in-process. */
export function createCounterStore(
  config: Config,
  logger: Logger,
  memoryOptions: MemoryCounterOptions = {},
): CounterStore {
  const log = logger.child({ component: 'counters' });
  return config.REDIS_URL
    ? new RedisCounterStore(config, log)
    : new MemoryCounterStore(log, memoryOptions);
}
