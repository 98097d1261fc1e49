import type { GatewayExecutionResult } from '@apollo/server-gateway-interface';
import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Logger } from '../../platform/logger.ts';
import type { EventQueue } from '../../platform/subscriptions/event-queue.ts';
import type { GatewayContext } from '../context.ts';
import { serializeEvent } from './frames.ts';
import { executeSubscriptionEvent, type PlannedSubscription } from './plan.ts';
import type { UpstreamConnections } from './upstream.ts';

/** One client subscription: where its events go and what it was planned as. */
export interface Subscriber {
  planned: PlannedSubscription;
  /** The subscriber's live context (its token is replaced when the client refreshes it). */
  context: GatewayContext;
  /** Events as serialised `next` payloads (see frames.ts). */
  queue: EventQueue<string>;
}

export interface FanoutMetrics {
  /** An event resolved once for a group (upstream event count). */
  resolved: () => void;
  /** A resolved event handed to `n` subscriber queues. */
  delivered: (n: number) => void;
}

/**
 * Subscriptions that would get the same events answer for the same data are served by one
 * upstream subscription: same organization, same role (what the subgraphs' tenant and permission
 * checks depend on), same operation and variables. Each event is then fetched and resolved once
 * for the group and handed to every member's queue — N dashboards of one tenant cost one subgraph
 * stream, not N. Groups never span organizations, and the subgraph filters the stream by the
 * organization of the token that opened it.
 */
function groupKey(subscriber: Pick<Subscriber, 'planned' | 'context'>): string {
  const { principal } = subscriber.context;
  const { request, queryHash } = subscriber.planned.requestContext;
  return JSON.stringify([
    principal?.organizationId ?? null,
    principal?.role ?? null,
    queryHash,
    request.operationName ?? null,
    request.variables ?? {},
  ]);
}

/** Every upstream subscription group of one gateway. */
export class SubscriptionFanout {
  private readonly groups = new Map<string, SubscriptionGroup>();

  constructor(
    private readonly upstream: UpstreamConnections,
    private readonly logger: Logger,
    private readonly metrics: FanoutMetrics,
  ) {}

  get groupCount(): number {
    return this.groups.size;
  }

  /** Adds `subscriber`; returns how to take it out again (idempotent). */
  join(subscriber: Subscriber): () => void {
    const key = groupKey(subscriber);
    const existing = this.groups.get(key);
    if (existing) {
      existing.add(subscriber);
      return () => existing.remove(subscriber);
    }
    // Once its stream ends (or its last member leaves) a group takes no one new: a later
    // subscriber with the same key starts a fresh upstream subscription.
    const group: SubscriptionGroup = new SubscriptionGroup(
      subscriber,
      this.upstream,
      this.logger,
      this.metrics,
      () => {
        if (this.groups.get(key) === group) this.groups.delete(key);
      },
    );
    this.groups.set(key, group);
    return () => group.remove(subscriber);
  }
}

class SubscriptionGroup {
  private readonly members = new Set<Subscriber>();
  private readonly stopUpstream: () => void;
  /** Events are resolved one after another so every member sees them in publication order. */
  private tail: Promise<void> = Promise.resolve();
  private ended = false;

  constructor(
    first: Subscriber,
    upstream: UpstreamConnections,
    private readonly logger: Logger,
    private readonly metrics: FanoutMetrics,
    /** Called when the group stops taking members (stream ended, or no member left). */
    private readonly onClosed: () => void,
  ) {
    this.members.add(first);
    const { primary, serviceMap, requestContext } = first.planned;
    const source = serviceMap[primary.serviceName] as { url?: string } | undefined;
    if (!source?.url) throw new Error(`no URL for subgraph ${primary.serviceName}`);
    const currentToken = () => this.currentToken();
    const variables: Record<string, unknown> = {};
    for (const name of primary.variableUsages ?? []) {
      const value: unknown = requestContext.request.variables?.[name];
      if (value !== undefined) variables[name] = value;
    }
    this.stopUpstream = upstream.subscribe(
      source.url,
      {
        query: primary.operation,
        operationName: primary.operationName ?? null,
        variables,
        extensions: {
          // A getter: the client serialises the payload again when it reconnects to a restarted
          // subgraph, and must then send a member's current token, not the expired first one.
          get authorization() {
            return `Bearer ${currentToken() ?? ''}`;
          },
          requestId: first.context.requestId,
        },
      },
      {
        next: (result) => this.enqueue(() => this.deliver(result)),
        error: (error) =>
          this.enqueue(async () => {
            this.logger.warn(
              { err: error, subgraph: primary.serviceName },
              'upstream subscription failed',
            );
            await this.deliver({ errors: upstreamErrors(error) });
            this.endAll();
          }),
        complete: () => this.enqueue(() => Promise.resolve(this.endAll())),
      },
    );
  }

  /** A member whose token is still valid (all share organization and role), if any. */
  private leader(): Subscriber | undefined {
    const now = Date.now();
    for (const member of this.members) {
      if ((member.context.principal?.expiresAt.getTime() ?? 0) > now) return member;
    }
    return undefined;
  }

  currentToken(): string | null {
    return this.leader()?.context.forwardToken ?? null;
  }

  add(subscriber: Subscriber): void {
    this.members.add(subscriber);
  }

  remove(subscriber: Subscriber): void {
    if (!this.members.delete(subscriber) || this.members.size > 0) return;
    this.ended = true;
    this.stopUpstream();
    this.onClosed();
  }

  private enqueue(step: () => Promise<void>): void {
    this.tail = this.tail.then(step).catch((err: unknown) => {
      this.logger.error({ err }, 'subscription event delivery failed');
    });
  }

  /**
   * Resolves an event with the credentials of a member whose token is still valid (all members
   * share organization and role, so any one of them sees exactly what the others may see).
   */
  private async deliver(event: ExecutionResult<Record<string, unknown>>): Promise<void> {
    if (this.ended) return;
    const leader = this.leader();
    if (!leader) return;
    let result: GatewayExecutionResult;
    if (!event.data) {
      result = { errors: event.errors ?? [] };
    } else {
      try {
        result = await executeSubscriptionEvent(leader.planned, event);
      } catch (err) {
        this.logger.error({ err }, 'resolving a subscription event failed');
        result = {
          errors: [
            new GraphQLError('Resolving this event failed', {
              extensions: { code: 'INTERNAL_SERVER_ERROR' },
            }),
          ],
        };
      }
    }
    this.metrics.resolved();
    const payload = serializeEvent(result);
    let delivered = 0;
    for (const member of this.members) if (member.queue.push(payload)) delivered++;
    this.metrics.delivered(delivered);
  }

  /** The owning subgraph ended the stream: complete every member once its queue drains. */
  private endAll(): void {
    this.onClosed();
    for (const member of this.members) member.queue.end();
  }
}

function upstreamErrors(error: unknown): GraphQLError[] {
  if (Array.isArray(error)) {
    return error.map(
      (e: { message?: string; extensions?: Record<string, unknown> }) =>
        new GraphQLError(e.message ?? 'Subscription failed', { extensions: e.extensions }),
    );
  }
  return [
    new GraphQLError('The subgraph serving this subscription is unavailable', {
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    }),
  ];
}
