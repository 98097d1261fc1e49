import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { MemoryEventBus } from './memory.ts';
import { RedisEventBus } from './redis.ts';
import type { EventBus } from './types.ts';

export type { EventBus, EventHandler, Unsubscribe } from './types.ts';
export { MAX_TOPIC_LENGTH } from './types.ts';
export { MemoryEventBus } from './memory.ts';
export { RedisEventBus } from './redis.ts';

/** The event bus the configuration asks for: Redis pub/sub when `REDIS_URL` is set, else in-process. */
export function createEventBus(config: Config, logger: Logger): EventBus {
  const log = logger.child({ component: 'events' });
  return config.REDIS_URL ? new RedisEventBus(config, log) : new MemoryEventBus(log);
}
