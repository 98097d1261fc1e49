import type { Redis } from 'ioredis';
import type { Logger } from '../../platform/logger.ts';
import { closeRedis, connectRedis } from '../../platform/events/redis-connection.ts';

/** A bucket's size: it holds at most `capacity` tokens and regains `refillPerSecond` a second. */
export interface BucketLimit {
  capacity: number;
  refillPerSecond: number;
}

/** What a `take` decided, with everything the RateLimit-* headers need. */
export interface BucketDecision {
  allowed: boolean;
  limit: number;
  /** Whole tokens left after this request (never negative). */
  remaining: number;
  /** Seconds until the bucket is full again (IETF draft `RateLimit-Reset`). */
  resetSeconds: number;
  /** When refused: seconds until enough tokens for this request have come back (at least 1). */
  retryAfterSeconds: number;
}

/**
 * Token buckets with continuous refill. A request is let through when the bucket holds
 * `min(cost, capacity)` tokens and then takes its whole cost, so the balance may go negative:
 * an operation dearer than a whole window still runs on a full bucket (MAX_QUERY_COST bounds how
 * dear) and its caller then waits for the debt to refill. A refused request takes nothing.
 * A cost of 0 only reads the bucket.
 */
export interface TokenBuckets {
  readonly kind: 'memory' | 'redis';
  take(key: string, cost: number, limit: BucketLimit): Promise<BucketDecision>;
  close(): Promise<void>;
}

/** The decision for a bucket holding `tokens` after the request (or before, when refused). */
export function decide(
  tokens: number,
  allowed: boolean,
  cost: number,
  limit: BucketLimit,
): BucketDecision {
  const needed = Math.min(cost, limit.capacity);
  return {
    allowed,
    limit: limit.capacity,
    remaining: Math.max(0, Math.floor(tokens)),
    resetSeconds: Math.max(0, Math.ceil((limit.capacity - tokens) / limit.refillPerSecond)),
    retryAfterSeconds: allowed
      ? 0
      : Math.max(1, Math.ceil((needed - tokens) / limit.refillPerSecond)),
  };
}

interface MemoryBucket {
  tokens: number;
  at: number;
}

/**
 * Buckets in this process: right for one replica, too generous for several (each replica grants
 * the full rate). Bounded at `maxKeys`: callers choose their keys (every client IP is one), so the
 * least recently used bucket is dropped first. Dropping one only hands its caller a full bucket.
 */
export class MemoryTokenBuckets implements TokenBuckets {
  readonly kind = 'memory' as const;
  private readonly buckets = new Map<string, MemoryBucket>();
  private evictions = 0;

  constructor(
    private readonly logger: Logger,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string, cost: number, limit: BucketLimit): Promise<BucketDecision> {
    const now = this.now();
    const bucket = this.buckets.get(key);
    let tokens = limit.capacity;
    if (bucket) {
      const elapsedSeconds = Math.max(0, now - bucket.at) / 1000;
      tokens = Math.min(limit.capacity, bucket.tokens + elapsedSeconds * limit.refillPerSecond);
    }
    const allowed = tokens >= Math.min(cost, limit.capacity);
    if (allowed) tokens -= cost;
    // Delete and re-insert so Map order is least-recently-used first.
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: now });
    if (this.buckets.size > this.maxKeys) this.evictOldest();
    return Promise.resolve(decide(tokens, allowed, cost, limit));
  }

  close(): Promise<void> {
    this.buckets.clear();
    return Promise.resolve();
  }

  private evictOldest(): void {
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
    // One line per 10,000 evictions: a flood of new IPs must not also flood the log.
    if (this.evictions++ % 10_000 === 0) {
      this.logger.warn(
        { maxKeys: this.maxKeys, evictions: this.evictions },
        'rate-limit buckets full; evicting least recently used',
      );
    }
  }
}

// One key per bucket, a hash of {tokens, at}. The clock is Redis TIME, not the caller's, so
// replicas with skewed clocks still refill a shared bucket at one rate. The key expires once the
// bucket would be full again: a missing key and a full bucket mean the same. Balances are returned
// as strings because Redis truncates Lua numbers to integers.
const TAKE_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate / 1000)
end
local allowed = 0
if tokens >= math.min(cost, capacity) then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.max(1000, math.ceil((capacity - tokens) * 1000 / rate) + 1000))
return {allowed, tostring(tokens)}
`;

interface BucketCommands {
  lotabotsTakeTokens(
    key: string,
    capacity: number,
    refillPerSecond: number,
    cost: number,
  ): Promise<[number, string]>;
}

/** Thrown when the Redis bucket store cannot answer (down, or slower than the command timeout). */
export class BucketStoreUnavailable extends Error {
  constructor(cause: unknown) {
    super('rate-limit store unavailable', { cause });
    this.name = 'BucketStoreUnavailable';
  }
}

/**
 * Buckets in Redis, shared by every gateway replica: `REDIS_KEY_PREFIX` + `ratelimit:` + key,
 * updated by one Lua script (atomic, one key, Cluster-safe). The connection is its own, with a
 * short command timeout, so a Redis that stops answering costs a request at most that long; while
 * the connection is known to be down, calls fail at once instead of queueing.
 */
export class RedisTokenBuckets implements TokenBuckets {
  readonly kind = 'redis' as const;
  private readonly client: Redis & BucketCommands;
  private readonly prefix: string;
  private down = false;

  constructor(
    options: { url: string; keyPrefix: string; commandTimeoutMs: number },
    logger: Logger,
  ) {
    this.prefix = `${options.keyPrefix}ratelimit:`;
    const tag = options.keyPrefix.replace(/[^\w:.-]/g, '_');
    const client = connectRedis(options.url, `lotabots-ratelimit:${tag}`, logger, {
      commandTimeout: options.commandTimeoutMs,
      // Queued commands fail on the first reconnect attempt instead of after twenty.
      maxRetriesPerRequest: 1,
    });
    client.on('error', () => {
      this.down = true;
    });
    client.on('ready', () => {
      this.down = false;
    });
    client.defineCommand('lotabotsTakeTokens', { numberOfKeys: 1, lua: TAKE_LUA });
    this.client = client as Redis & BucketCommands;
  }

  async take(key: string, cost: number, limit: BucketLimit): Promise<BucketDecision> {
    if (this.down && this.client.status !== 'ready') {
      throw new BucketStoreUnavailable(new Error(`redis connection is ${this.client.status}`));
    }
    let reply: [number, string];
    try {
      reply = await this.client.lotabotsTakeTokens(
        this.prefix + key,
        limit.capacity,
        limit.refillPerSecond,
        cost,
      );
    } catch (error) {
      throw new BucketStoreUnavailable(error);
    }
    return decide(Number(reply[1]), Number(reply[0]) === 1, cost, limit);
  }

  async close(): Promise<void> {
    await closeRedis(this.client);
  }
}
