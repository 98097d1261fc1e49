import type { Logger } from '../logger.ts';
import { dispatch, settle, type Subscription } from './dispatch.ts';
import {
  encodePayload,
  validateTopic,
  type EventBus,
  type EventHandler,
  type Unsubscribe,
} from './types.ts';

/**
 * Events within one process. Payloads make the same JSON round trip as on Redis (a Date arrives
 * as a string) and delivery is asynchronous, so code that works here works across replicas.
 */
export class MemoryEventBus implements EventBus {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<string, Set<Subscription>>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  publish(topic: string, payload: unknown): Promise<void> {
    return settle(() => {
      validateTopic(topic);
      this.assertOpen();
      const text = encodePayload(topic, payload);
      const current = this.topics.get(topic);
      if (current === undefined || current.size === 0) return;
      const recipients = [...current];
      // Deferred so a publisher never runs subscriber code inside its own call stack.
      setImmediate(() => {
        const active = this.topics.get(topic);
        if (active === undefined) return;
        dispatch(recipients, (s) => active.has(s), topic, JSON.parse(text), this.logger);
      });
    });
  }

  subscribe(topic: string, handler: EventHandler): Promise<Unsubscribe> {
    return settle(() => {
      validateTopic(topic);
      this.assertOpen();
      const subscription: Subscription = { handler };
      let set = this.topics.get(topic);
      if (set === undefined) {
        set = new Set();
        this.topics.set(topic, set);
      }
      set.add(subscription);
      return () => {
        const current = this.topics.get(topic);
        if (current?.delete(subscription) && current.size === 0) this.topics.delete(topic);
        return Promise.resolve();
      };
    });
  }

  ping(): Promise<void> {
    return this.closed ? Promise.reject(new Error('event bus is closed')) : Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
    return Promise.resolve();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event bus is closed');
  }
}
