import { Kind, buildSchema, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRuntime, type Runtime } from '../../platform/runtime.ts';
import type { RunningService } from '../../platform/subgraph-server.ts';
import { startGateway } from '../../gateway/index.ts';
import { estimateCost, readCostDirectives, usageKey } from '../../gateway/rate-limit/index.ts';
import { backends } from '../support/config.ts';
import {
  newAccount,
  signUpMutation,
  startTestSupergraph,
  type TestSupergraph,
} from '../support/supergraph.ts';

// Costs by the formula in gateway/rate-limit/cost.ts:
// me: User = 1, id = 0 → 1.
const SCALAR = '{ me { id } }';
// organization 1 + members (list, assumed 10) × (1 + role 0) → 11.
const SMALL_LIST = '{ organization { members { role } } }';
// organization 1 + 10 × (Membership 1 + user (1 + memberships 10 × (1 + role 0))) → 121.
const LIST_HEAVY = '{ organization { members { user { memberships { role } } } } }';
// organization 1 + 10 × (1 + user (1 + 10 × (1 + organization (1 + 10 × (1 + 0))))) → 1221.
const TOO_EXPENSIVE =
  '{ organization { members { user { memberships { organization { members { role } } } } } } }';

interface Answer {
  status: number;
  headers: Headers;
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

async function call(
  url: string,
  query: string,
  options: { token?: string; ip?: string; variables?: Record<string, unknown> } = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      // The suites run with TRUST_PROXY so each test can act as its own client address.
      ...(options.ip ? { 'x-forwarded-for': options.ip } : {}),
    },
    body: JSON.stringify({ query, variables: options.variables }),
  });
  const body = (await response.json()) as Omit<Answer, 'status' | 'headers'>;
  return { status: response.status, headers: response.headers, ...body };
}

const remaining = (answer: Answer) => Number(answer.headers.get('ratelimit-remaining'));

let nextIp = 1;
/** A client address no other test uses, so anonymous buckets never overlap. */
const freshIp = () => `198.51.100.${nextIp++}`;

interface Tenant {
  token: string;
  refreshToken: string;
  organizationId: string;
}

/** Signs up a new FREE organization from its own address (sign-ups are anonymous operations). */
async function tenant(url: string): Promise<Tenant> {
  const answer = await call(url, signUpMutation, {
    ip: freshIp(),
    variables: { input: newAccount('ratelimit') },
  });
  const payload = answer.data?.signUp as
    { accessToken: string; refreshToken: string; organization: { id: string } } | undefined;
  if (!payload) throw new Error(`sign-up failed: ${answer.status} ${JSON.stringify(answer)}`);
  return {
    token: payload.accessToken,
    refreshToken: payload.refreshToken,
    organizationId: payload.organization.id,
  };
}

/** Sends `query` until the gateway answers 429; returns every answer (bounded, never loops forever). */
async function floodUntilLimited(url: string, query: string, token?: string, ip?: string) {
  const answers: Answer[] = [];
  for (let i = 0; i < 50; i += 1) {
    const answer = await call(url, query, { ...(token ? { token } : {}), ...(ip ? { ip } : {}) });
    answers.push(answer);
    if (answer.status === 429) return answers;
  }
  throw new Error('never rate limited');
}

/** A second gateway in this process on the same subgraphs, as another replica would be. */
async function extraGateway(supergraph: TestSupergraph, runtime: Runtime): Promise<RunningService> {
  return startGateway(runtime, {
    host: '127.0.0.1',
    port: 0,
    subgraphUrls: { identity: supergraph.identity.url },
    identityUrl: supergraph.identity.url,
  });
}

const FREE = 200;
const ANONYMOUS = 30;

describe(`rate limits per tenant and tier (${backends.events})`, () => {
  let supergraph: TestSupergraph;
  let url: string;
  beforeAll(async () => {
    supergraph = await startTestSupergraph({
      TRUST_PROXY: 'true',
      RATE_LIMIT_FREE: String(FREE),
      RATE_LIMIT_ANONYMOUS: String(ANONYMOUS),
      // Ten hours: refill stays far below one token over the suite, so counts are exact.
      RATE_LIMIT_WINDOW_SECONDS: '36000',
      MAX_QUERY_COST: '500',
    });
    url = `${supergraph.baseUrl}/graphql`;
  });
  afterAll(async () => {
    await supergraph.stop();
  });

  it('answers with RateLimit headers that go down with use', async () => {
    const { token } = await tenant(url);
    const first = await call(url, SCALAR, { token });
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe(String(FREE));
    expect(remaining(first)).toBe(FREE - 1);
    expect(Number(first.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    const second = await call(url, SCALAR, { token });
    expect(remaining(second)).toBe(FREE - 2);
    // Requests that fail validation are not charged but still see their bucket.
    const invalid = await call(url, '{ me { nope } }', { token });
    expect(invalid.status).toBe(400);
    expect(remaining(invalid)).toBe(FREE - 2);
  });

  it('charges list-heavy operations more than scalar ones', async () => {
    const { token } = await tenant(url);
    const before = remaining(await call(url, SCALAR, { token }));
    const afterScalar = remaining(await call(url, SCALAR, { token }));
    const afterList = remaining(await call(url, LIST_HEAVY, { token }));
    expect(before - afterScalar).toBe(1);
    expect(afterScalar - afterList).toBe(121);
  });

  it('refuses an exhausted tenant with 429, RATE_LIMITED and Retry-After, executing nothing', async () => {
    const victim = await tenant(url);
    const answers = await floodUntilLimited(url, LIST_HEAVY, victim.token);
    const refused = answers.at(-1) as Answer;
    expect(refused.status).toBe(429);
    expect(refused.data ?? null).toBeNull();
    const error = refused.errors?.[0];
    expect(error?.extensions?.code).toBe('RATE_LIMITED');
    const retryAfter = error?.extensions?.retryAfterSeconds as number;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('retry-after')).toBe(String(retryAfter));
    expect(remaining(refused)).toBeLessThan(121);

    // Drain what is left with cheaper operations, so even a 10-unit mutation no longer fits.
    await floodUntilLimited(url, SMALL_LIST, victim.token);

    // A refused mutation does not run: the session it would have ended still refreshes.
    const logout = await call(
      url,
      'mutation($t: String!) { logout(input: { refreshToken: $t }) }',
      {
        token: victim.token,
        variables: { t: victim.refreshToken },
      },
    );
    expect(logout.status).toBe(429);
    const refreshed = await call(
      url,
      'mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken } }',
      { ip: freshIp(), variables: { t: victim.refreshToken } },
    );
    expect(refreshed.errors).toBeUndefined();

    const metrics = await (await fetch(`${supergraph.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/lotabots_rate_limit_rejections_total\{[^}]*tier="FREE"[^}]*\} [1-9]/);
    expect(metrics).toContain('lotabots_operation_cost_bucket');
  });

  it('keeps tenants apart: a flooded tenant does not slow another down', async () => {
    const a = await tenant(url);
    const b = await tenant(url);
    expect(remaining(await call(url, SCALAR, { token: b.token }))).toBe(FREE - 1);
    await floodUntilLimited(url, LIST_HEAVY, a.token);
    expect(remaining(await call(url, SCALAR, { token: b.token }))).toBe(FREE - 2);
    expect((await call(url, LIST_HEAVY, { token: a.token })).status).toBe(429);
    const bAnswer = await call(url, SCALAR, { token: b.token });
    expect(bAnswer.status).toBe(200);
    expect(remaining(bAnswer)).toBe(FREE - 3);

    // What B was charged is what billing sees for B's hour.
    const usage = await supergraph.runtime.counters.get(usageKey(b.organizationId));
    expect(usage.count).toBe(3);
  });

  it('limits anonymous callers per client address', async () => {
    const flooder = freshIp();
    // me: 1 + memberships (list, assumed 10) × (1 + role 0) → 11 per request; me is null for an
    // anonymous caller, but the operation runs and is charged.
    const answers = await floodUntilLimited(
      url,
      '{ me { memberships { role } } }',
      undefined,
      flooder,
    );
    // 30 → 19 → 8 → refused.
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
    expect(answers.at(-1)?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(remaining(answers.at(-1) as Answer)).toBe(ANONYMOUS - 22);

    const other = await call(url, SCALAR, { ip: freshIp() });
    expect(other.status).toBe(200);
    expect(other.headers.get('ratelimit-limit')).toBe(String(ANONYMOUS));
    expect(remaining(other)).toBe(ANONYMOUS - 1);
  });

  it('refuses operations whose estimated cost exceeds MAX_QUERY_COST before running them', async () => {
    const { token } = await tenant(url);
    const answer = await call(url, TOO_EXPENSIVE, { token });
    expect(answer.status).toBe(400);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(answer.errors?.[0]?.message).toBe('Estimated cost 1221 exceeds the limit of 500');
    // Not charged.
    expect(remaining(answer)).toBe(FREE);
  });

  it(
    backends.events === 'redis'
      ? 'shares one bucket between two gateways on the same Redis'
      : 'keeps one bucket per gateway process without Redis',
    async () => {
      const runtime = createRuntime(
        { ...supergraph.runtime.config, PORT: 0 },
        createLogger(supergraph.runtime.config),
      );
      const second = await extraGateway(supergraph, runtime);
      try {
        const { token } = await tenant(url);
        const seen: number[] = [];
        for (const target of [url, second.url, url, second.url]) {
          const answer = await call(target, SCALAR, { token });
          expect(answer.status).toBe(200);
          seen.push(remaining(answer));
        }
        expect(seen).toEqual(
          backends.events === 'redis'
            ? [FREE - 1, FREE - 2, FREE - 3, FREE - 4]
            : [FREE - 1, FREE - 1, FREE - 2, FREE - 2],
        );
      } finally {
        await second.stop();
        await runtime.close();
      }
    },
  );

  it('fails open or closed as configured when its Redis is unreachable', async () => {
    // Only the limiter's Redis is dead here: the gateway reuses this suite's event bus and
    // counters. A runtime whose event bus points at a dead Redis cannot start a gateway at all
    // (the API key exchange's SUBSCRIBE waits for ioredis' 20 retries, ~80 s, then throws).
    const deadRedis = (mode: 'open' | 'closed'): Runtime => ({
      ...supergraph.runtime,
      config: {
        ...supergraph.runtime.config,
        REDIS_URL: 'redis://127.0.0.1:1',
        RATE_LIMIT_FAIL_MODE: mode,
      } satisfies Config,
    });
    const open = await extraGateway(supergraph, deadRedis('open'));
    const closed = await extraGateway(supergraph, deadRedis('closed'));
    try {
      const { token } = await tenant(url);
      for (let i = 0; i < 3; i += 1) {
        const answer = await call(open.url, SCALAR, { token });
        expect(answer.status).toBe(200);
        expect(answer.errors).toBeUndefined();
        expect(typeof (answer.data?.me as { id?: unknown } | undefined)?.id).toBe('string');
      }
      const refused = await call(closed.url, SCALAR, { token });
      expect(refused.status).toBe(503);
      expect(refused.data ?? null).toBeNull();
      expect(refused.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(refused.errors?.[0]?.extensions?.retryAfterSeconds).toBe(5);
      expect(refused.headers.get('retry-after')).toBe('5');

      const metrics = await (await fetch(open.url.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(
        /lotabots_rate_limit_store_failures_total\{[^}]*fail_mode="open"[^}]*\} [1-9]/,
      );
    } finally {
      await open.stop();
      await closed.stop();
    }
  });
});

describe(`rate limit refill (${backends.events})`, () => {
  let supergraph: TestSupergraph;
  let url: string;
  beforeAll(async () => {
    supergraph = await startTestSupergraph({
      TRUST_PROXY: 'true',
      RATE_LIMIT_FREE: '50',
      RATE_LIMIT_WINDOW_SECONDS: '2',
    });
    url = `${supergraph.baseUrl}/graphql`;
  });
  afterAll(async () => {
    await supergraph.stop();
  });

  it('lets a limited tenant back in once the bucket has refilled', async () => {
    const { token } = await tenant(url);
    const refused = (await floodUntilLimited(url, SMALL_LIST, token)).at(-1) as Answer;
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    const again = await call(url, SMALL_LIST, { token });
    expect(again.status).toBe(200);
    expect(again.errors).toBeUndefined();
  });
});

// The schema as @apollo/composition links the cost spec (it imports @listSize and names the
// spec-named @cost without a prefix, as the link spec says); gpu-agent's SDL uses both.
describe('cost directives from the supergraph', () => {
  const sdl = /* GraphQL */ `
    schema
      @link(url: "https://specs.apollo.dev/link/v1.0")
      @link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"]) {
      query: Query
    }
    directive @link(url: String, as: String, import: [String]) repeatable on SCHEMA
    directive @cost(weight: Int!) on FIELD_DEFINITION | OBJECT | ARGUMENT_DEFINITION
    directive @listSize(
      assumedSize: Int
      slicingArguments: [String!]
      sizedFields: [String!]
      requireOneSlicingArgument: Boolean = true
    ) on FIELD_DEFINITION
    type Query {
      items(first: Int, last: Int): [Item] @listSize(slicingArguments: ["first", "last"])
      page(first: Int = 5, filter: String @cost(weight: 7)): Page
        @listSize(
          slicingArguments: ["first"]
          sizedFields: ["edges"]
          requireOneSlicingArgument: false
        )
      fixed: [Item] @listSize(assumedSize: 3)
      plain: [Item]
      report: Int @cost(weight: 50)
    }
    type Item @cost(weight: 3) {
      id: ID
    }
    type Page {
      edges: [Edge]
    }
    type Edge {
      node: Item
    }
  `;
  const schema = buildSchema(sdl);
  const directives = readCostDirectives(sdl);
  const cost = (query: string, variables: Record<string, unknown> = {}) => {
    const document = parse(query);
    const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
    if (operation?.kind !== Kind.OPERATION_DEFINITION) throw new Error('no operation');
    return estimateCost(schema, directives, document, operation, variables);
  };

  it('multiplies by slicing arguments and assumed sizes, with type and field weights', () => {
    expect(cost('{ items(first: 4) { id } }')).toBe(4 * 3);
    expect(cost('query($n: Int) { items(last: $n) { id } }', { n: 2 })).toBe(2 * 3);
    expect(cost('{ fixed { id } }')).toBe(3 * 3);
    expect(cost('{ plain { id } }')).toBe(10 * 3);
    expect(cost('{ report }')).toBe(50);
    expect(cost('query($s: Boolean!) { report @skip(if: $s) again: report }', { s: true })).toBe(
      50,
    );
  });

  it('hands a connection slice to its sized fields and charges weighted arguments', () => {
    // page 1 + first (default 5) × (edge 1 + item 3).
    expect(cost('{ page { edges { node { id } } } }')).toBe(1 + 5 * (1 + 3));
    expect(cost('{ page(first: 2, filter: "x") { edges { node { id } } } }')).toBe(
      7 + 1 + 2 * (1 + 3),
    );
  });

  it('refuses a sliced list without exactly one slicing argument', () => {
    expect(() => cost('{ items { id } }')).toThrow(/needs exactly one of: first, last/);
    expect(() => cost('{ items(first: 1, last: 1) { id } }')).toThrow(/exactly one/);
  });
});
