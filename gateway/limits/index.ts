import type { ApolloServerPlugin, PersistedQueryOptions } from '@apollo/server';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis } from '../../platform/events/redis-connection.ts';
import type { GatewayContext } from '../context.ts';
import type { GatewayLayer, GatewayLayerDeps } from '../extensions.ts';
import { RedisApqCache } from './apq-cache.ts';
import { operationLimitsPlugin } from './operation-limits.ts';
import {
  loadSafelist,
  persistedQueryErrorCodes,
  safelistCache,
  safelistPlugin,
} from './safelist.ts';

export { checkOperationLimits, type OperationLimits } from './operation-limits.ts';
export { measureOperation, type OperationMeasure } from './measure.ts';
export { NOT_IN_SAFELIST } from './safelist.ts';

/**
 * How long a registered APQ entry lives. Registration needs only a valid query, so without a TTL
 * anyone could grow the shared Redis without bound; a day keeps hot queries one round trip away.
 */
const APQ_TTL_SECONDS = 24 * 3600;

/**
 * The cheap rejections every request meets first: a token cap while parsing
 * (MAX_QUERY_TOKENS), depth / alias / root-field limits before planning, the batch size cap, and
 * persisted queries (PERSISTED_QUERIES: `apq` on Redis when REDIS_URL is set, else Apollo's
 * bounded in-process cache; `safelist` executes only the manifest's operations; `off`).
 */
export function createOperationLimitsLayer({ runtime, logger }: GatewayLayerDeps): GatewayLayer {
  const { config } = runtime;
  const plugins: ApolloServerPlugin<GatewayContext>[] = [];
  let persistedQueries: PersistedQueryOptions | false = false;
  let redis: Redis | null = null;

  if (config.PERSISTED_QUERIES === 'safelist') {
    if (!config.PERSISTED_QUERIES_MANIFEST) {
      throw new Error(
        'PERSISTED_QUERIES=safelist needs PERSISTED_QUERIES_MANIFEST (a manifest file)',
      );
    }
    const safelist = loadSafelist(config.PERSISTED_QUERIES_MANIFEST);
    logger.info({ operations: safelist.byId.size }, 'persisted query safelist loaded');
    plugins.push(safelistPlugin(safelist));
    persistedQueries = { cache: safelistCache(safelist), ttl: null };
  } else if (config.PERSISTED_QUERIES === 'apq') {
    if (config.REDIS_URL) {
      // Its own connection: without an offline queue a lookup during an outage fails at once
      // (answered as a miss) instead of holding the request until Redis is back.
      redis = connectRedis(config.REDIS_URL, 'gateway-apq', logger, {
        enableOfflineQueue: false,
        commandTimeout: 1_000,
        maxRetriesPerRequest: 1,
      });
      persistedQueries = {
        cache: new RedisApqCache(redis, config.REDIS_KEY_PREFIX, logger),
        ttl: APQ_TTL_SECONDS,
      };
    } else {
      // No cache given: Apollo uses its own bounded in-memory LRU.
      persistedQueries = { ttl: APQ_TTL_SECONDS };
    }
  }

  if (persistedQueries) plugins.push(persistedQueryErrorCodes());
  plugins.push(
    operationLimitsPlugin({
      depth: config.MAX_QUERY_DEPTH,
      aliases: config.MAX_QUERY_ALIASES,
      rootFields: config.MAX_ROOT_FIELDS,
    }),
  );

  return {
    name: 'limits',
    plugins,
    serverOptions: {
      persistedQueries,
      // graphql's parser stops at this many tokens, so a huge document costs at most this much.
      parseOptions: { maxTokens: config.MAX_QUERY_TOKENS },
    },
    maxBatchSize: config.MAX_BATCH_SIZE,
    stop: async () => {
      if (redis) await closeRedis(redis);
    },
  };
}
