import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { Counter, Histogram } from 'prom-client';
import type { Tier } from '../../platform/auth/roles.ts';
import { DomainError, rateLimited, toGraphQLError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { GatewayContext } from '../context.ts';
import type { BucketDecision, BucketLimit, TokenBuckets } from './buckets.ts';
import { estimateCost, type CostDirectives } from './cost.ts';
import type { UsageRecorder } from './usage.ts';

/** Who a bucket belongs to: an organization (by its token's tier) or an anonymous client IP. */
export type LimitClass = Tier | 'ANONYMOUS';

export interface RateLimitMetrics {
  rejections: Counter<'tier'>;
  cost: Histogram;
  storeFailures: Counter<'fail_mode'>;
}

export interface RateLimitPluginOptions {
  /** RATE_LIMIT_ENABLED: off still enforces MAX_QUERY_COST, which protects the subgraphs. */
  enabled: boolean;
  failMode: 'open' | 'closed';
  maxQueryCost: number;
  limits: Record<LimitClass, BucketLimit>;
  buckets: TokenBuckets;
  /** The cost directives of the current supergraph (re-read after a hot reload). */
  directives: () => CostDirectives;
  usage: UsageRecorder;
  metrics: RateLimitMetrics;
  logger: Logger;
}

/** Seconds a client is told to wait when the limiter itself is unavailable (fail closed). */
const UNAVAILABLE_RETRY_SECONDS = 5;

/**
 * The Apollo plugin: estimates each operation's cost once it is parsed, validated and resolved
 * (before the gateway plans or executes it), refuses operations over MAX_QUERY_COST, charges the
 * cost to the caller's token bucket, and puts `RateLimit-*` headers on every response.
 *
 * When the bucket store fails: `open` lets the operation through uncharged (logged once per
 * outage, counted in `lotabots_rate_limit_store_failures_total`); `closed` answers HTTP 503 with
 * `extensions.code: RATE_LIMITED`, `retryAfterSeconds` and `Retry-After`, because clients already
 * back off on RATE_LIMITED while the status tells proxies and operators the fault is ours.
 */
export function rateLimitPlugin(
  options: RateLimitPluginOptions,
): ApolloServerPlugin<GatewayContext> {
  const health = new StoreHealth(options);
  return {
    requestDidStart({ contextValue }): Promise<GraphQLRequestListener<GatewayContext>> {
      const { principal } = contextValue;
      const limitClass: LimitClass = principal?.tier ?? 'ANONYMOUS';
      const key = principal ? `org:${principal.organizationId}` : `ip:${contextValue.ip}`;
      const limit = options.limits[limitClass];
      let decision: BucketDecision | null = null;
      let unavailable = false;

      const take = async (cost: number): Promise<BucketDecision | null> => {
        try {
          const result = await options.buckets.take(key, cost, limit);
          health.succeeded();
          return result;
        } catch (error) {
          health.failed(error);
          unavailable = true;
          return null;
        }
      };

      return Promise.resolve({
        async didResolveOperation(requestContext) {
          // Apollo resolves the operation before this hook; without one there is nothing to run.
          if (!requestContext.operation) return;
          let cost: number;
          try {
            cost = estimateCost(
              requestContext.schema,
              options.directives(),
              requestContext.document,
              requestContext.operation,
              requestContext.request.variables ?? {},
            );
          } catch (error) {
            if (error instanceof DomainError) throw withStatus(toGraphQLError(error), 400);
            throw error;
          }
          options.metrics.cost.observe(cost);
          if (cost > options.maxQueryCost) {
            throw new GraphQLError(
              `Estimated cost ${cost} exceeds the limit of ${options.maxQueryCost}`,
              {
                extensions: {
                  code: 'BAD_USER_INPUT',
                  cost,
                  maxCost: options.maxQueryCost,
                  http: { status: 400 },
                },
              },
            );
          }
          if (!options.enabled) return;

          decision = await take(cost);
          if (!decision) {
            if (options.failMode === 'open') return;
            throw new GraphQLError('Rate limiting is unavailable right now; try again shortly', {
              extensions: {
                code: 'RATE_LIMITED',
                retryAfterSeconds: UNAVAILABLE_RETRY_SECONDS,
                http: { status: 503 },
              },
            });
          }
          if (!decision.allowed) {
            options.metrics.rejections.inc({ tier: limitClass });
            throw toGraphQLError(
              rateLimited(
                `Rate limit exceeded: this operation costs ${cost} of ${decision.limit} per window; ` +
                  `retry in ${decision.retryAfterSeconds} s`,
                decision.retryAfterSeconds,
              ),
            );
          }
          if (principal) options.usage.record(principal.organizationId, cost);
        },

        async willSendResponse({ response }) {
          if (!options.enabled) return;
          // Requests that never reached didResolveOperation (parse or validation errors, cost
          // refusals) are not charged, but still learn where their bucket stands.
          if (!decision && !unavailable) decision = await take(0);
          const headers = response.http.headers;
          if (decision) {
            headers.set('ratelimit-limit', String(decision.limit));
            headers.set('ratelimit-remaining', String(decision.remaining));
            headers.set('ratelimit-reset', String(decision.resetSeconds));
            headers.set(
              'ratelimit-policy',
              `${limit.capacity};w=${Math.round(limit.capacity / limit.refillPerSecond)}`,
            );
            if (!decision.allowed) headers.set('retry-after', String(decision.retryAfterSeconds));
          } else if (unavailable && options.failMode === 'closed') {
            headers.set('retry-after', String(UNAVAILABLE_RETRY_SECONDS));
          }
        },
      });
    },
  };
}

function withStatus(error: GraphQLError, status: number): GraphQLError {
  return new GraphQLError(error.message, {
    extensions: { ...error.extensions, http: { status } },
  });
}

/** Logs a store outage once when it starts and once when it ends, and counts every failure. */
class StoreHealth {
  private failing = false;

  constructor(
    private readonly options: Pick<RateLimitPluginOptions, 'failMode' | 'logger' | 'metrics'>,
  ) {}

  failed(error: unknown): void {
    this.options.metrics.storeFailures.inc({ fail_mode: this.options.failMode });
    if (this.failing) return;
    this.failing = true;
    this.options.logger.error(
      { err: error, failMode: this.options.failMode },
      this.options.failMode === 'open'
        ? 'rate-limit store unavailable; letting requests through unmetered'
        : 'rate-limit store unavailable; refusing requests',
    );
  }

  succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    this.options.logger.info('rate-limit store available again');
  }
}
