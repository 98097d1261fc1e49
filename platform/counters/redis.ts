import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { closeRedis, connectRedis, withTimeout } from '../events/redis-connection.ts';
import { validateCounterKey, windowMs, type CounterStore, type CounterValue } from './types.ts';

const PING_TIMEOUT_MS = 2_000;

// INCRBY and the expiry must be one step: two commands would let a crash in between leave a
// counter with no expiry (a permanent lockout), and a replica could read it without one. The
// window is only set when the key has none, so later increments never extend it.
const INCREMENT_LUA = `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {count, ttl}
`;

interface CounterCommands {
  lotabotsCounterIncrement(key: string, by: number, windowMs: number): Promise<[number, number]>;
}

/**
 * Counters in Redis, shared by every replica: one string key per counter under
 * `REDIS_KEY_PREFIX` + `counter:`, with the window as its TTL. The increment is a Lua script
 * (sent once, then called by SHA), so it is atomic and touches a single key (Cluster-safe).
 */
export class RedisCounterStore implements CounterStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis & CounterCommands;
  private readonly prefix: string;
  private closed = false;

  constructor(config: Pick<Config, 'REDIS_URL' | 'REDIS_KEY_PREFIX'>, logger: Logger) {
    if (!config.REDIS_URL) throw new Error('RedisCounterStore needs REDIS_URL');
    this.prefix = `${config.REDIS_KEY_PREFIX}counter:`;
    const client = connectRedis(config.REDIS_URL, 'lotabots-counters', logger);
    client.defineCommand('lotabotsCounterIncrement', { numberOfKeys: 1, lua: INCREMENT_LUA });
    this.client = client as Redis & CounterCommands;
  }

  async increment(key: string, windowSeconds: number, by = 1): Promise<CounterValue> {
    validateCounterKey(key);
    const window = windowMs(windowSeconds, by);
    this.assertOpen();
    const [count, ttl] = await this.client.lotabotsCounterIncrement(this.prefix + key, by, window);
    return { count: Number(count), resetInSeconds: Math.max(0, Math.ceil(Number(ttl) / 1000)) };
  }

  async get(key: string): Promise<CounterValue> {
    validateCounterKey(key);
    this.assertOpen();
    const results = await this.client
      .multi()
      .get(this.prefix + key)
      .pttl(this.prefix + key)
      .exec();
    const [countResult, ttlResult] = results ?? [];
    if (countResult?.[0]) throw countResult[0];
    if (ttlResult?.[0]) throw ttlResult[0];
    const raw = countResult?.[1] as string | null | undefined;
    const ttl = Number(ttlResult?.[1] ?? -2);
    if (raw === null || raw === undefined || ttl === -2) return { count: 0, resetInSeconds: 0 };
    return { count: Number(raw), resetInSeconds: Math.max(0, Math.ceil(ttl / 1000)) };
  }

  async reset(key: string): Promise<void> {
    validateCounterKey(key);
    this.assertOpen();
    await this.client.del(this.prefix + key);
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await withTimeout(this.client.ping(), PING_TIMEOUT_MS, 'redis ping');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeRedis(this.client);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('counter store is closed');
  }
}
