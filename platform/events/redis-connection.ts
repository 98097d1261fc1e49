import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.ts';

/** Longest pause between reconnect attempts while Redis is unreachable. */
const MAX_RECONNECT_DELAY_MS = 5_000;

/**
 * An ioredis client that reconnects forever with capped backoff and logs outages once (ioredis
 * reports every failed attempt) instead of once per retry. Shared by the event bus and counters.
 */
export function connectRedis(
  url: string,
  name: string,
  logger: Logger,
  options: RedisOptions = {},
): Redis {
  const client = new Redis(url, {
    connectionName: name,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 10), MAX_RECONNECT_DELAY_MS),
    ...options,
  });
  watchConnection(client, name, logger);
  return client;
}

/** Logs the first error of an outage and the recovery, keeping retries out of the log. */
export function watchConnection(client: Redis, name: string, logger: Logger): void {
  let down = false;
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err, connection: name }, 'redis connection error; reconnecting');
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ connection: name }, 'redis connection restored');
  });
}

/** Closes politely when connected and abruptly otherwise, so shutdown never waits on a dead server. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** Rejects when `promise` has not settled within `ms`: a readiness probe must answer quickly. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
