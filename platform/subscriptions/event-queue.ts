/**
 * What a subscription does when its consumer falls `limit` events behind: `drop-oldest` keeps the
 * newest `limit` events (right for telemetry, where only the latest sample matters) and counts the
 * rest as dropped; `close` ends the stream through `onOverflow`, so the caller can tell the client
 * (a gap in attestation status changes is worse than a clear close it can recover from).
 */
export type OverflowPolicy = 'drop-oldest' | 'close';

export interface EventQueueOptions {
  /** Most events held for a consumer that has not taken them yet. */
  limit: number;
  policy: OverflowPolicy;
  /** Called once when the `close` policy gives up on a consumer (the queue is already ended). */
  onOverflow?: (pending: number) => void;
  /** Called once when the stream ends for any reason (consumer returned, ended, overflowed). */
  onEnd?: () => void;
}

/**
 * A bounded, single-consumer async queue: producers `push` without ever waiting, the consumer
 * iterates with `for await`. Memory per consumer is capped at `limit` events whatever the producer
 * rate, which is what keeps one slow WebSocket client from growing the process without bound.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private waiter: ((result: IteratorResult<T>) => void) | null = null;
  private state: 'open' | 'ending' | 'done' = 'open';
  /** Events discarded by `drop-oldest`. */
  dropped = 0;

  constructor(private readonly options: EventQueueOptions) {}

  get pending(): number {
    return this.items.length;
  }

  get done(): boolean {
    return this.state !== 'open';
  }

  /** Queues `value`; false when the queue no longer accepts events (ended or overflowed). */
  push(value: T): boolean {
    if (this.state !== 'open') return false;
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = null;
      resolve({ value, done: false });
      return true;
    }
    if (this.items.length >= this.options.limit) {
      if (this.options.policy === 'close') {
        const pending = this.items.length;
        this.finish();
        this.options.onOverflow?.(pending);
        return false;
      }
      this.items.shift();
      this.dropped++;
    }
    this.items.push(value);
    return true;
  }

  /** Ends the stream once the events already queued are consumed (graceful completion). */
  end(): void {
    if (this.state !== 'open') return;
    if (this.items.length === 0) {
      this.finish();
      return;
    }
    this.state = 'ending';
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.items.shift();
    if (value !== undefined) {
      if (this.state === 'ending' && this.items.length === 0) this.finish(false);
      return Promise.resolve({ value, done: false });
    }
    if (this.state !== 'open') return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** The consumer stopped (client `complete`, closed socket): drop what is queued. */
  return(): Promise<IteratorResult<T>> {
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private finish(clear = true): void {
    if (this.state === 'done') return;
    this.state = 'done';
    if (clear) this.items.length = 0;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.({ value: undefined, done: true });
    this.options.onEnd?.();
  }
}
