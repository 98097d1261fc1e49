import type { ApolloServerOptions, ApolloServerPlugin } from '@apollo/server';
import type { Metrics } from '../platform/metrics.ts';
import type { Logger } from '../platform/logger.ts';
import type { Runtime } from '../platform/runtime.ts';
import { createAccessLayer } from './access/index.ts';
import type { GatewayContext } from './context.ts';
import { createOperationLimitsLayer } from './limits/index.ts';
import { createRateLimitLayer } from './rate-limit/index.ts';

/** What a gateway layer (limits, rate limits, persisted queries, access rules) receives. */
export interface GatewayLayerDeps {
  runtime: Runtime;
  logger: Logger;
  metrics: Metrics;
  /** The composed supergraph SDL the gateway serves (re-read on hot reload). */
  supergraphSdl: () => string;
}

/**
 * One protective layer of the gateway. Layers contribute Apollo plugins and, where Apollo only
 * takes them as constructor options, persisted-query and parse settings; `stop` releases what the
 * layer holds (timers, connections).
 */
export interface GatewayLayer {
  name: string;
  plugins?: ApolloServerPlugin<GatewayContext>[];
  serverOptions?: Pick<
    ApolloServerOptions<GatewayContext>,
    'persistedQueries' | 'parseOptions' | 'allowBatchedHttpRequests'
  >;
  /** Largest number of operations accepted in one batched HTTP request (checked before parsing). */
  maxBatchSize?: number;
  stop?: () => Promise<void>;
}

/**
 * The layers, in order: cheap rejections (operation limits), then access rules from the schema,
 * then metering (rate limits), so a refused operation is never charged.
 */
export async function createGatewayLayers(deps: GatewayLayerDeps): Promise<GatewayLayer[]> {
  return [
    createOperationLimitsLayer(deps),
    createAccessLayer(deps),
    await createRateLimitLayer(deps),
  ];
}
