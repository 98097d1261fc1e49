/** Receives one event; `payload` is the published value after a JSON round trip. */
export type EventHandler = (payload: unknown, topic: string) => void | Promise<void>;

/** Stops one subscription; resolves once no further events will reach its handler. */
export type Unsubscribe = () => Promise<void>;

/**
 * Topic-based publish/subscribe between services and gateway replicas. Delivery is at most once
 * and fire-and-forget: a subscriber that is down misses events, so anything that must not be lost
 * goes through a durable job first and is only announced here.
 */
export interface EventBus {
  readonly kind: 'memory' | 'redis';
  /** Sends `payload` (JSON-serialisable) to every current subscriber of `topic`. */
  publish(topic: string, payload: unknown): Promise<void>;
  /**
   * Registers `handler` for `topic`. Resolves once the subscription is live (on Redis, after the
   * server confirmed it), so an event published after the await is delivered.
   */
  subscribe(topic: string, handler: EventHandler): Promise<Unsubscribe>;
  /** Readiness: resolves when the bus can deliver, rejects otherwise. */
  ping(): Promise<void>;
  /** Drops every subscription and releases connections. */
  close(): Promise<void>;
}

/** Longest accepted topic name; topics are identifiers, not payloads. */
export const MAX_TOPIC_LENGTH = 256;

/** Throws unless `topic` is a usable topic name. */
export function validateTopic(topic: string): string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new TypeError(
      `event topic must be 1-${MAX_TOPIC_LENGTH} characters, got ${JSON.stringify(topic)}`,
    );
  }
  return topic;
}

/** JSON-encodes a payload, failing loudly on values JSON cannot carry. */
export function encodePayload(topic: string, payload: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (err) {
    throw new TypeError(`event payload for ${topic} is not JSON-serialisable`, { cause: err });
  }
  // JSON.stringify(undefined) and of a bare function yield undefined, which no subscriber could parse.
  if (text === undefined)
    throw new TypeError(`event payload for ${topic} is not JSON-serialisable`);
  return text;
}
