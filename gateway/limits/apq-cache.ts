import type { PersistedQueryOptions } from '@apollo/server';
import type { Redis } from 'ioredis';
import type { Logger } from '../../platform/logger.ts';

type KeyValueCache = NonNullable<PersistedQueryOptions['cache']>;

/**
 * Apollo's persisted-query cache on Redis, so every gateway replica knows a query once one of them
 * registered it. Apollo already prefixes its keys with `apq:`; this adds REDIS_KEY_PREFIX, giving
 * `<REDIS_KEY_PREFIX>apq:<sha256>`.
 *
 * A failed read is answered as a miss rather than an error: the client then resends the full
 * query, which still works while Redis is away. A failed write rejects and Apollo logs it.
 */
export class RedisApqCache implements KeyValueCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  async get(key: string): Promise<string | undefined> {
    try {
      return (await this.redis.get(this.prefix + key)) ?? undefined;
    } catch (err) {
      // Outages are logged once by the connection watcher; this is for the odd failed command.
      this.logger.debug({ err }, 'persisted query lookup failed; treating it as a miss');
      return undefined;
    }
  }

  async set(key: string, value: string, options?: { ttl?: number | null }): Promise<void> {
    if (options?.ttl) await this.redis.set(this.prefix + key, value, 'EX', options.ttl);
    else await this.redis.set(this.prefix + key, value);
  }

  async delete(key: string): Promise<boolean> {
    return (await this.redis.del(this.prefix + key)) > 0;
  }
}
