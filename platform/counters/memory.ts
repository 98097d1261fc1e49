import type { Logger } from '../logger.ts';
import { validateCounterKey, windowMs, type CounterStore, type CounterValue } from './types.ts';

export interface MemoryCounterOptions {
  /** Live counters kept at most; beyond it the oldest windows are dropped (logged). */
  maxKeys?: number;
  /** How often expired windows are swept out. */
  sweepIntervalMs?: number;
  /** Clock in milliseconds; tests move it instead of sleeping. */
  now?: () => number;
}

interface Entry {
  count: number;
  expiresAt: number;
}

const DEFAULT_MAX_KEYS = 100_000;
const DEFAULT_SWEEP_INTERVAL_MS = 60_000;

/**
 * Counters in one process: fine for a single replica, wrong for several (each would allow the
 * full limit). Memory is bounded two ways: a periodic sweep drops closed windows, and `maxKeys`
 * caps live ones, evicting the oldest window first, because an attacker choosing keys (say, one
 * per made-up user name) must not be able to grow the map without limit. Eviction makes a limit
 * forget a key early, so it is logged.
 */
export class MemoryCounterStore implements CounterStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  private evicted = 0;

  constructor(
    private readonly logger: Logger,
    options: MemoryCounterOptions = {},
  ) {
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(
      () => this.sweep(),
      options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS,
    );
    // The sweep is housekeeping; it must not keep a finished process alive.
    this.sweeper.unref();
  }

  /** Number of counters held, expired or not; for tests and metrics. */
  get size(): number {
    return this.entries.size;
  }

  increment(key: string, windowSeconds: number, by = 1): Promise<CounterValue> {
    return settle(() => this.add(key, windowSeconds, by));
  }

  get(key: string): Promise<CounterValue> {
    return settle(() => this.read(key));
  }

  reset(key: string): Promise<void> {
    return settle(() => {
      validateCounterKey(key);
      this.assertOpen();
      this.entries.delete(key);
    });
  }

  private add(key: string, windowSeconds: number, by: number): CounterValue {
    validateCounterKey(key);
    const window = windowMs(windowSeconds, by);
    this.assertOpen();
    const now = this.now();
    let entry = this.entries.get(key);
    if (entry === undefined || entry.expiresAt <= now) {
      // Re-inserting moves the key to the end of the Map, which keeps insertion order equal to
      // window age: eviction can then take the first keys.
      this.entries.delete(key);
      entry = { count: 0, expiresAt: now + window };
      this.entries.set(key, entry);
      if (this.entries.size > this.maxKeys) this.evict();
    }
    entry.count += by;
    return this.view(entry, now);
  }

  private read(key: string): CounterValue {
    validateCounterKey(key);
    this.assertOpen();
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry === undefined || entry.expiresAt <= now) return { count: 0, resetInSeconds: 0 };
    return this.view(entry, now);
  }

  ping(): Promise<void> {
    return this.closed ? Promise.reject(new Error('counter store is closed')) : Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.entries.clear();
    return Promise.resolve();
  }

  /** Drops every closed window; runs on a timer. Returns how many went. */
  sweep(): number {
    if (this.evicted > 0) {
      // Reported here rather than per eviction so a flood of keys is one log line per sweep.
      this.logger.warn(
        { evicted: this.evicted, maxKeys: this.maxKeys },
        'counter store full; evicted oldest windows',
      );
      this.evicted = 0;
    }
    const now = this.now();
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.entries.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  private evict(): void {
    // Only the oldest key goes: sweeping the whole map here would make every insert O(n) exactly
    // when someone is flooding us with keys. The periodic sweep reclaims closed windows.
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.entries.delete(oldest.value);
    this.evicted += 1;
  }

  private view(entry: Entry, now: number): CounterValue {
    return {
      count: entry.count,
      resetInSeconds: Math.max(0, Math.ceil((entry.expiresAt - now) / 1000)),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('counter store is closed');
  }
}

/** Runs synchronous work so that its exceptions become rejections, as callers of a Promise expect. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
