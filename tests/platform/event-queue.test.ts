import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../platform/subscriptions/event-queue.ts';

async function drain<T>(queue: EventQueue<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const value of queue) seen.push(value);
  return seen;
}

describe('EventQueue (per-subscriber bounded queue)', () => {
  it('hands events to a waiting consumer and keeps order for a busy one', async () => {
    const queue = new EventQueue<number>({ limit: 10, policy: 'close' });
    const first = queue.next();
    queue.push(1);
    expect(await first).toEqual({ value: 1, done: false });
    queue.push(2);
    queue.push(3);
    queue.end();
    expect(await drain(queue)).toEqual([2, 3]);
  });

  it('drop-oldest keeps the newest `limit` events and counts the rest', async () => {
    const queue = new EventQueue<number>({ limit: 3, policy: 'drop-oldest' });
    for (let i = 1; i <= 10; i++) expect(queue.push(i)).toBe(true);
    expect(queue.pending).toBe(3);
    expect(queue.dropped).toBe(7);
    queue.end();
    expect(await drain(queue)).toEqual([8, 9, 10]);
  });

  it('close ends the stream once, reports how far behind it was, and refuses more', async () => {
    const overflows: number[] = [];
    let ended = 0;
    const queue = new EventQueue<number>({
      limit: 2,
      policy: 'close',
      onOverflow: (pending) => overflows.push(pending),
      onEnd: () => ended++,
    });
    expect(queue.push(1)).toBe(true);
    expect(queue.push(2)).toBe(true);
    expect(queue.push(3)).toBe(false);
    expect(queue.push(4)).toBe(false);
    expect(overflows).toEqual([2]);
    expect(ended).toBe(1);
    expect(queue.done).toBe(true);
    // Memory is released: nothing is kept for a consumer that was given up on.
    expect(queue.pending).toBe(0);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });

  it('end() completes after what is queued; return() drops it at once', async () => {
    let ended = 0;
    const graceful = new EventQueue<string>({ limit: 5, policy: 'close', onEnd: () => ended++ });
    graceful.push('a');
    graceful.push('b');
    graceful.end();
    expect(graceful.push('c')).toBe(false);
    expect(ended).toBe(0);
    expect(await drain(graceful)).toEqual(['a', 'b']);
    expect(ended).toBe(1);

    const abandoned = new EventQueue<string>({ limit: 5, policy: 'close', onEnd: () => ended++ });
    abandoned.push('x');
    const waiting = new EventQueue<string>({ limit: 5, policy: 'close' });
    const pending = waiting.next();
    await abandoned.return();
    await waiting.return();
    expect(ended).toBe(2);
    expect(abandoned.pending).toBe(0);
    expect(await pending).toEqual({ value: undefined, done: true });
  });
});
