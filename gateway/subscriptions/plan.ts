import {
  executeQueryPlan,
  type ApolloGateway,
  type Experimental_DidResolveQueryPlanCallback,
  type GraphQLDataSource,
  type ServiceMap,
} from '@apollo/gateway';
import type { FetchNode, PlanNode, QueryPlan } from '@apollo/query-planner';
import type {
  GatewayExecutionResult,
  GatewayExecutor,
  GatewayInterface,
} from '@apollo/server-gateway-interface';
import { GraphQLError } from 'graphql';
import type { GatewayContext } from '../context.ts';

type DidResolveQueryPlan = Parameters<Experimental_DidResolveQueryPlanCallback>[0];
type ExecuteArgs = Parameters<typeof executeQueryPlan>;

/**
 * A subscription operation as the gateway planned it, kept for the life of the subscription: the
 * primary fetch goes to the subgraph that owns the root field, the rest of the plan runs once per
 * event to fill in what other subgraphs own.
 */
export interface PlannedSubscription {
  /** The subscription the owning subgraph is asked for. */
  primary: FetchNode;
  /** Fetches from other subgraphs, run for each event; absent when the owner answers it all. */
  rest: PlanNode | undefined;
  serviceMap: ServiceMap;
  requestContext: DidResolveQueryPlan['requestContext'];
  operationContext: DidResolveQueryPlan['operationContext'];
  supergraphSchema: ExecuteArgs[4];
  apiSchema: ExecuteArgs[5];
}

/** The name the event's payload is "fetched" from when the rest of a plan runs. */
const EVENT_SOURCE = '__subscription_event__';

/** Thrown from the plan hook to stop @apollo/gateway before it refuses to execute a subscription. */
class SubscriptionPlanned extends Error {}

/**
 * Reads the schemas @apollo/gateway planned with. They are private fields (2.14.x, pinned): the
 * per-event execution must use the very schemas the plan was built from, also across hot reloads.
 */
function gatewaySchemas(
  gateway: ApolloGateway,
): Pick<PlannedSubscription, 'supergraphSchema' | 'apiSchema'> {
  const internals = gateway as unknown as {
    supergraphSchema?: ExecuteArgs[4];
    apiSchema?: ExecuteArgs[5];
  };
  if (!internals.supergraphSchema || !internals.apiSchema) {
    throw new Error('@apollo/gateway internals changed: supergraphSchema/apiSchema not found');
  }
  return { supergraphSchema: internals.supergraphSchema, apiSchema: internals.apiSchema };
}

/**
 * Lets subscriptions through Apollo Server's request pipeline — parsing with the token cap,
 * validation, operation limits, access rules and rate-limit charging all apply unchanged — and
 * keeps the query plan the gateway builds for them, which @apollo/gateway would otherwise refuse
 * to execute. `hook` is the gateway's `experimental_didResolveQueryPlan`; `wrap` wraps the
 * gateway handed to Apollo Server so a planned subscription answers an empty result to the
 * pipeline and its plan goes to the context's `onSubscriptionPlanned`.
 */
export function subscriptionPlanning(getGateway: () => ApolloGateway): {
  hook: Experimental_DidResolveQueryPlanCallback;
  wrap: (gateway: ApolloGateway) => GatewayInterface;
} {
  const hook: Experimental_DidResolveQueryPlanCallback = (resolved) => {
    const node = resolved.queryPlan.node;
    if (node?.kind !== 'Subscription') return;
    const context = resolved.requestContext.context as Partial<GatewayContext>;
    if (!context.onSubscriptionPlanned) {
      throw new GraphQLError(
        'Subscriptions are served over WebSocket (graphql-transport-ws) on /graphql',
        { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } },
      );
    }
    context.onSubscriptionPlanned({
      primary: node.primary,
      rest: node.rest,
      serviceMap: resolved.serviceMap,
      requestContext: resolved.requestContext,
      operationContext: resolved.operationContext,
      ...gatewaySchemas(getGateway()),
    });
    throw new SubscriptionPlanned();
  };

  const wrapExecutor =
    (executor: GatewayExecutor): GatewayExecutor =>
    async (requestContext): Promise<GatewayExecutionResult> => {
      try {
        return await executor(requestContext);
      } catch (error) {
        if (error instanceof SubscriptionPlanned) return { data: null };
        throw error;
      }
    };

  const wrap = (gateway: ApolloGateway): GatewayInterface => ({
    load: async (options) => {
      const loaded = await gateway.load(options);
      return { ...loaded, executor: wrapExecutor(loaded.executor) };
    },
    onSchemaLoadOrUpdate: (callback) => gateway.onSchemaLoadOrUpdate(callback),
    stop: () => gateway.stop(),
  });
  return { hook, wrap };
}

/**
 * Resolves one event of a planned subscription like a query: the event's payload stands in for
 * the primary fetch, then the rest of the plan fetches other subgraphs' fields with the
 * subscriber's credentials, and the result is shaped to the client's selection (aliases,
 * fragments, field order) by @apollo/gateway's own executor.
 */
export function executeSubscriptionEvent(
  planned: PlannedSubscription,
  event: { data?: Record<string, unknown> | null; errors?: readonly unknown[] },
): Promise<GatewayExecutionResult> {
  const source: GraphQLDataSource = {
    process: () =>
      Promise.resolve({
        data: event.data ?? null,
        ...(event.errors ? { errors: event.errors as GraphQLError[] } : {}),
      }),
  };
  const fromEvent: FetchNode = { ...planned.primary, serviceName: EVENT_SOURCE };
  const plan: QueryPlan = {
    kind: 'QueryPlan',
    node: planned.rest ? { kind: 'Sequence', nodes: [fromEvent, planned.rest] } : fromEvent,
  };
  return executeQueryPlan(
    plan,
    { ...planned.serviceMap, [EVENT_SOURCE]: source },
    planned.requestContext,
    planned.operationContext,
    planned.supergraphSchema,
    planned.apiSchema,
  );
}
