import type { Principal } from '../platform/auth/principal.ts';
import type { TraceContext } from '../platform/http/trace-context.ts';
import type { Logger } from '../platform/logger.ts';
import type { PlannedSubscription } from './subscriptions/plan.ts';

/** What each gateway request carries into the query plan. */
export interface GatewayContext {
  requestId: string;
  principal: Principal | null;
  /** The access token forwarded to subgraphs (an API key is exchanged for one first). */
  forwardToken: string | null;
  ip: string;
  /** W3C trace context of this request (continued from the caller's `traceparent`, or new). */
  trace: TraceContext;
  logger: Logger;
  /**
   * Set for operations arriving over WebSocket: receives a subscription's query plan (the
   * pipeline's own result is then empty). Over HTTP a subscription is refused instead.
   */
  onSubscriptionPlanned?: (planned: PlannedSubscription) => void;
}
