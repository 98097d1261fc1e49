import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../platform/config.ts';
import { createEventBus, MemoryEventBus, type EventBus } from '../../platform/events/index.ts';
import { createLogger } from '../../platform/logger.ts';
import { backends, testConfig } from '../support/config.ts';

const open: EventBus[] = [];
const config = testConfig();

afterAll(async () => {
  await Promise.all(open.map((bus) => bus.close()));
});

/** A bus on the configured backend; closed after the file. */
function bus(cfg: Config = config, logger = createLogger(cfg)): EventBus {
  const created = createEventBus(cfg, logger);
  open.push(created);
  return created;
}

/** A logger whose records the test can read, to check what was reported. */
function capturingLogger(): {
  logger: ReturnType<typeof createLogger>;
  records: Record<string, unknown>[];
} {
  const records: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, records };
}

/** Collects what a subscription receives. */
async function inbox(
  target: EventBus,
  topic: string,
): Promise<{ events: unknown[]; stop: () => Promise<void> }> {
  const events: unknown[] = [];
  const stop = await target.subscribe(topic, (payload) => void events.push(payload));
  return { events, stop };
}

async function until(check: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Waits long enough for an event that should not arrive to have arrived. Used after a positive
 * control on the same Redis server, which fans out a PUBLISH to all subscribers at once.
 */
const settleDelivery = () => sleep(150);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe(`event bus (${backends.events})`, () => {
  it('selects the backend the configuration names', () => {
    expect(bus().kind).toBe(backends.events);
  });

  it('delivers JSON payloads to every subscriber of the topic, and only that topic', async () => {
    const b = bus();
    const first = await inbox(b, 'attestation.status');
    const second = await inbox(b, 'attestation.status');
    const other = await inbox(b, 'gpu.telemetry');
    const at = new Date('2025-01-02T03:04:05Z');
    await b.publish('attestation.status', { id: 'a1', status: 'PASSED', at, tags: ['x'], n: 1.5 });
    await until(() => first.events.length === 1 && second.events.length === 1, 'both subscribers');
    // The payload crossed as JSON: a Date arrives as its ISO string, on both backends alike.
    expect(first.events[0]).toEqual({
      id: 'a1',
      status: 'PASSED',
      at: at.toISOString(),
      tags: ['x'],
      n: 1.5,
    });
    expect(second.events).toEqual(first.events);
    await settleDelivery();
    expect(other.events).toEqual([]);
  });

  it('keeps publish order per topic', async () => {
    const b = bus();
    const { events } = await inbox(b, 'ordered');
    for (let i = 0; i < 50; i += 1) await b.publish('ordered', i);
    await until(() => events.length === 50, '50 events');
    expect(events).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('isolates handlers: a throwing or rejecting handler does not stop the others and is logged', async () => {
    const { logger, records } = capturingLogger();
    const b = bus(config, logger);
    await b.subscribe('isolated', () => {
      throw new Error('sync boom');
    });
    await b.subscribe('isolated', () => Promise.reject(new Error('async boom')));
    const { events } = await inbox(b, 'isolated');
    await b.publish('isolated', { ok: true });
    await b.publish('isolated', { ok: 'again' });
    await until(() => events.length === 2, 'the healthy handler');
    await until(() => records.length >= 4, 'four error logs');
    expect(records.map((r) => r.msg)).toEqual(Array(4).fill('event handler failed'));
    expect(records.map((r) => (r.err as { message: string }).message).sort()).toEqual([
      'async boom',
      'async boom',
      'sync boom',
      'sync boom',
    ]);
  });

  it('stops delivering after unsubscribe, without affecting other subscriptions', async () => {
    const b = bus();
    const leaving = await inbox(b, 'leave');
    const staying = await inbox(b, 'leave');
    await b.publish('leave', 1);
    await until(() => leaving.events.length === 1 && staying.events.length === 1, 'first event');
    await leaving.stop();
    await leaving.stop();
    await b.publish('leave', 2);
    await until(() => staying.events.length === 2, 'second event');
    await settleDelivery();
    expect(leaving.events).toEqual([1]);

    await staying.stop();
    const again = await inbox(b, 'leave');
    await b.publish('leave', 3);
    await until(() => again.events.length === 1, 'event after re-subscribing');
    expect(staying.events).toEqual([1, 2]);
  });

  it('refuses payloads JSON cannot carry and bad topics', async () => {
    const b = bus();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(b.publish('bad', circular)).rejects.toThrow(/not JSON-serialisable/);
    await expect(b.publish('bad', 10n)).rejects.toThrow(/not JSON-serialisable/);
    await expect(b.publish('bad', undefined)).rejects.toThrow(/not JSON-serialisable/);
    await expect(b.publish('', {})).rejects.toThrow(/topic/);
    await expect(b.subscribe('t'.repeat(257), () => undefined)).rejects.toThrow(/topic/);
  });

  it(`shares events between instances on Redis, keeps them apart in memory`, async () => {
    const a = bus();
    const b = bus();
    const atA = await inbox(a, 'replicas');
    const atB = await inbox(b, 'replicas');
    await a.publish('replicas', { from: 'a' });
    await until(() => atA.events.length === 1, 'own instance');
    if (backends.events === 'redis') {
      await until(() => atB.events.length === 1, 'the other replica');
      expect(atB.events).toEqual([{ from: 'a' }]);
    } else {
      await settleDelivery();
      expect(atB.events).toEqual([]);
    }
  });

  it('isolates deployments that use different key prefixes', async () => {
    const mine = bus();
    const theirs = bus(testConfig());
    const atMine = await inbox(mine, 'shared-name');
    const atTheirs = await inbox(theirs, 'shared-name');
    await mine.publish('shared-name', 'hello');
    await until(() => atMine.events.length === 1, 'own deployment');
    await settleDelivery();
    expect(atTheirs.events).toEqual([]);
  });

  it('drops malformed messages from the wire with a warning and keeps delivering', async () => {
    const { logger, records } = capturingLogger();
    const b = bus(config, logger);
    const { events } = await inbox(b, 'wire');
    if (backends.events === 'redis' && config.REDIS_URL) {
      // Another client writing to our channel directly, the way a foreign publisher would.
      const raw = new Redis(config.REDIS_URL);
      try {
        await raw.publish(`${config.REDIS_KEY_PREFIX}wire`, '{not json');
      } finally {
        await raw.quit();
      }
      await until(() => records.some((r) => r.msg === 'dropping malformed event'), 'the warning');
    }
    await b.publish('wire', { fine: true });
    await until(() => events.length === 1, 'the valid event');
    expect(events).toEqual([{ fine: true }]);
  });

  it('keeps delivering after the subscriber connection drops', async () => {
    const b = bus();
    const { events } = await inbox(b, 'resilient');
    if (backends.events === 'redis' && config.REDIS_URL) {
      const admin = new Redis(config.REDIS_URL);
      try {
        const list = await admin.client('LIST');
        const ids = String(list)
          .split('\n')
          .filter((line) => line.includes(`name=lotabots-events-sub:${config.REDIS_KEY_PREFIX} `))
          .map((line) => /\bid=(\d+)/.exec(line)?.[1]);
        expect(ids.length).toBeGreaterThan(0);
        for (const id of ids) if (id) await admin.client('KILL', 'ID', id);
      } finally {
        await admin.quit();
      }
    }
    // Pub/sub keeps no history: what is published while reconnecting is lost, so keep sending
    // until the re-established subscription hears one.
    let sent = 0;
    await until(() => {
      if (events.length === 0) void b.publish('resilient', (sent += 1));
      return events.length > 0;
    }, 'delivery after reconnect');
    expect(events.length).toBeGreaterThan(0);
  });

  it('answers ping while open and refuses work once closed', async () => {
    const b = createEventBus(testConfig(), createLogger(config));
    await expect(b.ping()).resolves.toBeUndefined();
    await b.close();
    await b.close();
    await expect(b.ping()).rejects.toThrow(/closed/);
    await expect(b.publish('x', 1)).rejects.toThrow(/closed/);
    await expect(b.subscribe('x', () => undefined)).rejects.toThrow(/closed/);
  });
});

describe('in-process event bus', () => {
  it('delivers after publish returns, never inside the publisher', async () => {
    const b = new MemoryEventBus(createLogger(config));
    open.push(b);
    const seen: string[] = [];
    await b.subscribe('t', () => void seen.push('handler'));
    const pending = b.publish('t', 1);
    seen.push('after publish');
    await pending;
    await until(() => seen.length === 2, 'delivery');
    expect(seen).toEqual(['after publish', 'handler']);
  });

  it('does not deliver an event in flight to a handler unsubscribed meanwhile', async () => {
    const b = new MemoryEventBus(createLogger(config));
    open.push(b);
    const got: unknown[] = [];
    const stop = await b.subscribe('t', (p) => void got.push(p));
    await b.publish('t', 1);
    await stop();
    await settleDelivery();
    expect(got).toEqual([]);
  });
});
