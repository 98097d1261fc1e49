import { Counter, Histogram } from 'prom-client';
import type { GatewayLayer, GatewayLayerDeps } from '../extensions.ts';
import {
  MemoryTokenBuckets,
  RedisTokenBuckets,
  type BucketLimit,
  type TokenBuckets,
} from './buckets.ts';
import { readCostDirectives, type CostDirectives } from './cost.ts';
import { rateLimitPlugin, type LimitClass } from './plugin.ts';
import { UsageBatcher, UsageRecorder } from './usage.ts';

export { estimateCost, readCostDirectives, type CostDirectives } from './cost.ts';
export { usageKey } from './usage.ts';

/**
 * How long one Redis call of the limiter may take. Far above a healthy round trip (well under a
 * millisecond on a LAN) and far below what a caller would notice: a dead Redis costs at most this.
 */
const REDIS_COMMAND_TIMEOUT_MS = 250;

/**
 * The rate-limit layer: cost estimation (MAX_QUERY_COST), per-tenant token buckets (Redis when
 * REDIS_URL is set, shared by every replica; in-process otherwise), RateLimit-* headers, hourly
 * usage counters for billing, and the `lotabots_rate_limit_*` / `lotabots_operation_cost` metrics.
 */
export async function createRateLimitLayer(deps: GatewayLayerDeps): Promise<GatewayLayer> {
  const { config } = deps.runtime;
  const logger = deps.logger.child({ component: 'rate-limit' });
  const registers = [deps.metrics.registry];
  const metrics = {
    rejections: new Counter({
      name: 'lotabots_rate_limit_rejections_total',
      help: 'Operations refused by the rate limiter, by tier (ANONYMOUS for client IPs)',
      labelNames: ['tier'] as const,
      registers,
    }),
    cost: new Histogram({
      name: 'lotabots_operation_cost',
      help: 'Estimated cost of resolved operations',
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000],
      registers,
    }),
    storeFailures: new Counter({
      name: 'lotabots_rate_limit_store_failures_total',
      help: 'Rate-limit decisions the bucket store could not make, by fail mode',
      labelNames: ['fail_mode'] as const,
      registers,
    }),
  };

  const window = config.RATE_LIMIT_WINDOW_SECONDS;
  const bucket = (capacity: number): BucketLimit => ({
    capacity,
    refillPerSecond: capacity / window,
  });
  const limits: Record<LimitClass, BucketLimit> = {
    FREE: bucket(config.RATE_LIMIT_FREE),
    PRO: bucket(config.RATE_LIMIT_PRO),
    ENTERPRISE: bucket(config.RATE_LIMIT_ENTERPRISE),
    ANONYMOUS: bucket(config.RATE_LIMIT_ANONYMOUS),
  };

  const buckets: TokenBuckets = config.REDIS_URL
    ? new RedisTokenBuckets(
        {
          url: config.REDIS_URL,
          keyPrefix: config.REDIS_KEY_PREFIX,
          commandTimeoutMs: REDIS_COMMAND_TIMEOUT_MS,
        },
        logger,
      )
    : new MemoryTokenBuckets(logger);

  const meter = new UsageBatcher(deps.runtime.events, logger, config.USAGE_FLUSH_SECONDS * 1000);
  meter.start();
  return Promise.resolve({
    name: 'rate-limit',
    plugins: [
      rateLimitPlugin({
        enabled: config.RATE_LIMIT_ENABLED,
        failMode: config.RATE_LIMIT_FAIL_MODE,
        maxQueryCost: config.MAX_QUERY_COST,
        limits,
        buckets,
        directives: costDirectivesOf(deps, logger),
        usage: new UsageRecorder(deps.runtime.counters, logger, meter),
        metrics,
        logger,
      }),
    ],
    stop: async () => {
      await meter.stop();
      await buckets.close();
    },
  });
}

/**
 * The cost directives of the supergraph the gateway serves, re-read when its SDL changes (hot
 * reload). A supergraph that cannot be read or parsed means default weights, not a failed request.
 */
function costDirectivesOf(
  deps: GatewayLayerDeps,
  logger: GatewayLayerDeps['logger'],
): () => CostDirectives {
  let sdl: string | null = null;
  let directives: CostDirectives = readCostDirectives('scalar Unused');
  return () => {
    let current: string;
    try {
      current = deps.supergraphSdl();
    } catch (err) {
      if (sdl !== '') logger.warn({ err }, 'supergraph SDL unavailable; default operation costs');
      current = '';
    }
    if (current === sdl) return directives;
    sdl = current;
    try {
      directives = readCostDirectives(current || 'scalar Unused');
    } catch (err) {
      logger.warn({ err }, 'cost directives unreadable; default operation costs');
      directives = readCostDirectives('scalar Unused');
    }
    return directives;
  };
}
