/** A counter's state within its current window. */
export interface CounterValue {
  count: number;
  /** Seconds until the window closes and the count starts again from zero; 0 when no window is open. */
  resetInSeconds: number;
}

/**
 * Fixed-window counters for throttling and rate limits (login failures, sign-ups, per-tenant query
 * cost). The first increment opens a window of `windowSeconds`; later increments add to it and do
 * not extend it; when it closes the key starts again from zero.
 */
export interface CounterStore {
  readonly kind: 'memory' | 'redis';
  /** Adds `by` to the counter (atomically across replicas on Redis) and returns the new state. */
  increment(key: string, windowSeconds: number, by?: number): Promise<CounterValue>;
  /** The current state without changing it; `{ count: 0, resetInSeconds: 0 }` for an unknown key. */
  get(key: string): Promise<CounterValue>;
  /** Forgets the counter, e.g. after a successful login. */
  reset(key: string): Promise<void>;
  /** Readiness: resolves when the store answers, rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Longest accepted counter key. */
export const MAX_COUNTER_KEY_LENGTH = 512;

/** Throws unless `key` is a usable counter key. */
export function validateCounterKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_COUNTER_KEY_LENGTH) {
    throw new TypeError(`counter key must be 1-${MAX_COUNTER_KEY_LENGTH} characters`);
  }
  return key;
}

/** Validates increment arguments and returns the window in milliseconds. */
export function windowMs(windowSeconds: number, by: number): number {
  if (!Number.isFinite(windowSeconds) || windowSeconds <= 0) {
    throw new TypeError(`windowSeconds must be a positive number, got ${windowSeconds}`);
  }
  if (!Number.isSafeInteger(by)) throw new TypeError(`by must be an integer, got ${by}`);
  return Math.ceil(windowSeconds * 1000);
}
