import type { Principal } from '../platform/auth/principal.ts';
import type { Logger } from '../platform/logger.ts';

/** What each gateway request carries into the query plan. */
export interface GatewayContext {
  requestId: string;
  principal: Principal | null;
  /** The access token forwarded to subgraphs (an API key is exchanged for one first). */
  forwardToken: string | null;
  ip: string;
  logger: Logger;
}
