import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../gateway/index.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRuntime, type Runtime } from '../../platform/runtime.ts';
import type { RunningService } from '../../platform/subgraph-server.ts';
import { testConfig } from '../support/config.ts';
import { signUp, startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

/**
 * A gateway replica whose Redis is down from the start (nothing listens on port 1): it must still
 * start promptly, serve queries (rate limits fail open by default, APQ misses), and say what is
 * wrong on /readyz rather than hang.
 */
let supergraph: TestSupergraph;
let runtime: Runtime;
let gateway: RunningService;
let startedInMs = 0;

beforeAll(async () => {
  supergraph = await startTestSupergraph();
  const config = testConfig({
    REDIS_URL: 'redis://127.0.0.1:1',
    RATE_LIMIT_FAIL_MODE: 'open',
    // Tokens come from the suite's identity service, so this replica must expect its issuer.
    TOKEN_ISSUER: supergraph.runtime.config.issuer,
  });
  runtime = createRuntime(config, createLogger(config));
  const started = Date.now();
  gateway = await startGateway(runtime, {
    host: '127.0.0.1',
    port: 0,
    subgraphUrls: { identity: supergraph.identity.url },
    identityUrl: supergraph.identity.url,
  });
  startedInMs = Date.now() - started;
}, 60_000);
afterAll(async () => {
  await gateway?.stop();
  await runtime?.close();
  await supergraph.stop();
});

describe('a gateway whose Redis is unreachable', () => {
  it('starts within seconds instead of waiting for Redis', () => {
    expect(startedInMs).toBeLessThan(15_000);
  });

  it('keeps serving authenticated queries', async () => {
    const user = await signUp(supergraph, 'redis-down');
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
      body: JSON.stringify({ query: '{ me { email } }' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { me: { email: user.email } } });
  });

  it('reports the broken stores on /readyz while /healthz stays up', async () => {
    const base = gateway.url.replace('/graphql', '');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as {
      checks: Record<string, { ok: boolean; error?: string }>;
    };
    expect(body.checks['events:redis']?.ok).toBe(false);
    expect(body.checks['subgraph:identity']?.ok).toBe(true);
  });
});
