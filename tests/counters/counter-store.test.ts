import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../platform/config.ts';
import {
  createCounterStore,
  MemoryCounterStore,
  type CounterStore,
} from '../../platform/counters/index.ts';
import { createLogger } from '../../platform/logger.ts';
import { backends, testConfig } from '../support/config.ts';

const open: CounterStore[] = [];
const config = testConfig();

afterAll(async () => {
  await Promise.all(open.map((store) => store.close()));
});

/** A store on the configured backend (Redis when REDIS_URL is set); closed after the file. */
function counters(cfg: Config = config): CounterStore {
  const store = createCounterStore(cfg, createLogger(cfg));
  open.push(store);
  return store;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe(`counter store (${backends.events})`, () => {
  it('selects the backend the configuration names', () => {
    expect(counters().kind).toBe(backends.events);
  });

  it('counts within a fixed window', async () => {
    const store = counters();
    expect(await store.increment('login:alice', 60)).toEqual({ count: 1, resetInSeconds: 60 });
    const second = await store.increment('login:alice', 60);
    expect(second.count).toBe(2);
    expect(second.resetInSeconds).toBeGreaterThan(0);
    expect(second.resetInSeconds).toBeLessThanOrEqual(60);
    expect((await store.increment('login:alice', 60, 5)).count).toBe(7);
    expect(await store.get('login:alice')).toMatchObject({ count: 7 });
  });

  it('does not extend the window on later increments', async () => {
    const store = counters();
    await store.increment('fixed', 2);
    // A longer window asked for later does not move the reset time of the open window.
    const later = await store.increment('fixed', 3600);
    expect(later.resetInSeconds).toBeLessThanOrEqual(2);
  });

  it('keeps keys apart and reports unknown keys as zero', async () => {
    const store = counters();
    await store.increment('ip:10.0.0.1', 60);
    await store.increment('ip:10.0.0.1', 60);
    await store.increment('ip:10.0.0.2', 60);
    expect((await store.get('ip:10.0.0.1')).count).toBe(2);
    expect((await store.get('ip:10.0.0.2')).count).toBe(1);
    expect(await store.get('ip:never')).toEqual({ count: 0, resetInSeconds: 0 });
  });

  it('forgets a counter on reset', async () => {
    const store = counters();
    await store.increment('reset-me', 60, 3);
    await store.reset('reset-me');
    await store.reset('reset-me');
    expect(await store.get('reset-me')).toEqual({ count: 0, resetInSeconds: 0 });
    expect((await store.increment('reset-me', 60)).count).toBe(1);
  });

  it('starts from zero once the window has closed', async () => {
    const store = counters();
    await store.increment('short', 1, 4);
    expect((await store.get('short')).count).toBe(4);
    await sleep(1_100);
    expect(await store.get('short')).toEqual({ count: 0, resetInSeconds: 0 });
    expect(await store.increment('short', 1)).toEqual({ count: 1, resetInSeconds: 1 });
  });

  it('is atomic under concurrent increments', async () => {
    const store = counters();
    const results = await Promise.all(
      Array.from({ length: 100 }, () => store.increment('burst', 60)),
    );
    expect(results.map((r) => r.count).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
  });

  it('shares counts between instances on Redis, keeps them apart in memory', async () => {
    const a = counters();
    const b = counters();
    await a.increment('replica-shared', 60, 2);
    const fromB = await b.increment('replica-shared', 60);
    expect(fromB.count).toBe(backends.events === 'redis' ? 3 : 1);
  });

  it('isolates deployments that use different key prefixes', async () => {
    const mine = counters();
    const theirs = counters(testConfig());
    await mine.increment('same-key', 60, 5);
    expect((await theirs.get('same-key')).count).toBe(0);
    expect((await theirs.increment('same-key', 60)).count).toBe(1);
  });

  it('validates its arguments', async () => {
    const store = counters();
    await expect(store.increment('', 60)).rejects.toThrow(/key/);
    await expect(store.increment('k', 0)).rejects.toThrow(/windowSeconds/);
    await expect(store.increment('k', Number.NaN)).rejects.toThrow(/windowSeconds/);
    await expect(store.increment('k', 60, 1.5)).rejects.toThrow(/by/);
    await expect(store.get('x'.repeat(513))).rejects.toThrow(/key/);
  });

  it('answers ping while open and refuses work once closed', async () => {
    const store = createCounterStore(testConfig(), createLogger(config));
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
    await store.close();
    await expect(store.ping()).rejects.toThrow(/closed/);
    await expect(store.increment('k', 1)).rejects.toThrow(/closed/);
  });
});

describe('in-process counter store', () => {
  function memory(options: { maxKeys?: number } = {}) {
    let now = 1_000_000;
    const records: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const store = new MemoryCounterStore(logger, { ...options, now: () => now });
    open.push(store);
    return { store, records, advance: (ms: number) => void (now += ms) };
  }

  it('sweeps closed windows so idle keys do not accumulate', async () => {
    const { store, advance } = memory();
    for (let i = 0; i < 100; i += 1) await store.increment(`k${i}`, 10);
    await store.increment('long', 3600);
    expect(store.size).toBe(101);
    advance(10_000);
    expect(store.sweep()).toBe(100);
    expect(store.size).toBe(1);
    expect((await store.get('long')).count).toBe(1);
  });

  it('caps live keys, evicting the oldest window first, and says so', async () => {
    const { store, records } = memory({ maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) await store.increment(key, 60);
    expect(store.size).toBe(3);
    expect((await store.get('a')).count).toBe(0);
    expect((await store.get('b')).count).toBe(0);
    expect((await store.get('e')).count).toBe(1);
    store.sweep();
    expect(records).toMatchObject([
      { msg: 'counter store full; evicted oldest windows', evicted: 2, maxKeys: 3 },
    ]);
  });

  it('reports the remaining window in whole seconds, rounded up', async () => {
    const { store, advance } = memory();
    await store.increment('r', 10);
    advance(8_500);
    expect(await store.increment('r', 10)).toEqual({ count: 2, resetInSeconds: 2 });
    advance(1_500);
    expect(await store.increment('r', 10)).toEqual({ count: 1, resetInSeconds: 10 });
  });
});
