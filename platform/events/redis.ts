import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { dispatch, type Subscription } from './dispatch.ts';
import { closeRedis, connectRedis, watchConnection, withTimeout } from './redis-connection.ts';
import {
  encodePayload,
  validateTopic,
  type EventBus,
  type EventHandler,
  type Unsubscribe,
} from './types.ts';

const PING_TIMEOUT_MS = 2_000;

interface Channel {
  subscriptions: Set<Subscription>;
  /** Settles when Redis confirmed the SUBSCRIBE; later subscribers wait on the same one. */
  ready: Promise<unknown>;
}

/**
 * Events across processes through Redis pub/sub. Channel = `REDIS_KEY_PREFIX` + topic, so
 * deployments (and test files) sharing a Redis do not hear each other. Publishing uses one
 * connection; subscriptions a second one, because a connection in subscriber mode cannot issue
 * other commands. ioredis re-subscribes after a reconnect; events sent while disconnected are
 * lost, as pub/sub has no history.
 */
export class RedisEventBus implements EventBus {
  readonly kind = 'redis' as const;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly channels = new Map<string, Channel>();
  private closed = false;

  constructor(
    config: Pick<Config, 'REDIS_URL' | 'REDIS_KEY_PREFIX'>,
    private readonly logger: Logger,
  ) {
    if (!config.REDIS_URL) throw new Error('RedisEventBus needs REDIS_URL');
    this.prefix = config.REDIS_KEY_PREFIX;
    // Named after the prefix so CLIENT LIST tells which deployment a connection belongs to.
    const tag = config.REDIS_KEY_PREFIX.replace(/[^\w:.-]/g, '_');
    this.publisher = connectRedis(config.REDIS_URL, `lotabots-events-pub:${tag}`, logger);
    this.subscriber = this.publisher.duplicate({ connectionName: `lotabots-events-sub:${tag}` });
    watchConnection(this.subscriber, `lotabots-events-sub:${tag}`, logger);
    this.subscriber.on('message', (channel: string, message: string) =>
      this.onMessage(channel, message),
    );
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    validateTopic(topic);
    this.assertOpen();
    await this.publisher.publish(this.prefix + topic, encodePayload(topic, payload));
  }

  async subscribe(topic: string, handler: EventHandler): Promise<Unsubscribe> {
    validateTopic(topic);
    this.assertOpen();
    const name = this.prefix + topic;
    const subscription: Subscription = { handler };
    let channel = this.channels.get(name);
    if (channel === undefined) {
      // Map updated and command queued in the same tick: SUBSCRIBE/UNSUBSCRIBE reach Redis in
      // the order the map changed, so the map always says what the connection is subscribed to.
      channel = { subscriptions: new Set(), ready: this.subscriber.subscribe(name) };
      this.channels.set(name, channel);
    }
    channel.subscriptions.add(subscription);
    try {
      await channel.ready;
    } catch (err) {
      this.remove(name, subscription);
      throw err;
    }
    return async () => {
      if (this.remove(name, subscription) && !this.closed) await this.subscriber.unsubscribe(name);
    };
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await withTimeout(
      Promise.all([this.publisher.ping(), this.subscriber.ping()]),
      PING_TIMEOUT_MS,
      'redis ping',
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channels.clear();
    await Promise.all([closeRedis(this.subscriber), closeRedis(this.publisher)]);
  }

  /** Drops one subscription; true when it was the channel's last, so the channel should go. */
  private remove(name: string, subscription: Subscription): boolean {
    const channel = this.channels.get(name);
    if (channel === undefined || !channel.subscriptions.delete(subscription)) return false;
    if (channel.subscriptions.size > 0) return false;
    this.channels.delete(name);
    return true;
  }

  private onMessage(name: string, message: string): void {
    const channel = this.channels.get(name);
    if (channel === undefined) return;
    let payload: unknown;
    try {
      payload = JSON.parse(message);
    } catch (err) {
      // Someone else published to our channel (or a broken client): nothing we can deliver.
      this.logger.warn({ err, channel: name, bytes: message.length }, 'dropping malformed event');
      return;
    }
    const topic = name.slice(this.prefix.length);
    const { subscriptions } = channel;
    dispatch([...subscriptions], (s) => subscriptions.has(s), topic, payload, this.logger);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event bus is closed');
  }
}
