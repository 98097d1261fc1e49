import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supergraphPath } from '../../schema/compose.ts';
import {
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

const logLines: Record<string, unknown>[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString().split('\n'))
      if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});

const liveSupergraph = join(
  mkdtempSync(join(tmpdir(), 'lotabots-supergraph-')),
  'supergraph.graphql',
);
let supergraph: TestSupergraph;
let owner: SignedUp;

beforeAll(async () => {
  copyFileSync(supergraphPath, liveSupergraph);
  supergraph = await startTestSupergraph(
    {
      LOG_LEVEL: 'debug',
      SUPERGRAPH_PATH: liveSupergraph,
      CORS_ORIGINS: 'https://dashboard.example.com',
    },
    { logDestination: capture },
  );
  owner = await signUp(supergraph, 'observed');
});
afterAll(async () => {
  await supergraph.stop();
});

const metric = async (url: string, pattern: RegExp) =>
  Number(pattern.exec(await (await fetch(url)).text())?.[1] ?? 0);

describe('observability', () => {
  it('continues the caller’s W3C trace into the subgraph and logs it there', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${owner.accessToken}`,
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      },
      body: JSON.stringify({ query: '{ me { email } }' }),
    });
    expect(response.status).toBe(200);
    const identityLines = logLines.filter((l) => l.service === 'identity' && l.traceId === traceId);
    expect(identityLines.length).toBeGreaterThan(0);
    const gatewayLines = logLines.filter((l) => l.service === 'gateway' && l.traceId === traceId);
    expect(gatewayLines.length).toBeGreaterThan(0);
  });

  it('counts requests and latency per subgraph', async () => {
    await supergraph.graphql('{ me { id } }', {}, owner.accessToken);
    const text = await (await fetch(`${supergraph.baseUrl}/metrics`)).text();
    expect(text).toMatch(
      /lotabots_subgraph_requests_total\{[^}]*subgraph="identity"[^}]*outcome="ok"[^}]*\} [1-9]/,
    );
    expect(text).toMatch(
      /lotabots_subgraph_request_duration_seconds_count\{[^}]*subgraph="identity"/,
    );
  });

  it('shares one subgraph call between identical requests in flight at the same time', async () => {
    const metricsUrl = `${supergraph.baseUrl}/metrics`;
    const dedupPattern =
      /lotabots_subgraph_deduplicated_total\{[^}]*subgraph="identity"[^}]*\} (\d+)/;
    const before = await metric(metricsUrl, dedupPattern);
    const results = await Promise.all(
      Array.from({ length: 40 }, () =>
        supergraph.graphql<{ me: { email: string } }>('{ me { email } }', {}, owner.accessToken),
      ),
    );
    for (const result of results) expect(result.data?.me.email).toBe(owner.email);
    expect(await metric(metricsUrl, dedupPattern)).toBeGreaterThan(before);
  });

  it('answers CORS preflights for allowed origins only', async () => {
    const preflight = (origin: string) =>
      fetch(`${supergraph.baseUrl}/graphql`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
    const allowed = await preflight('https://dashboard.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(
      'https://dashboard.example.com',
    );
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
    const refused = await preflight('https://evil.example.com');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();

    const actual = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: { origin: 'https://dashboard.example.com', 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(actual.headers.get('access-control-allow-origin')).toBe('https://dashboard.example.com');
    expect(actual.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });

  it('hot-reloads a changed supergraph file without failing requests in flight', async () => {
    let stop = false;
    let failures = 0;
    let served = 0;
    const load = (async () => {
      while (!stop) {
        const result = await supergraph.graphql('{ me { id } }', {}, owner.accessToken);
        if (result.errors || result.status !== 200) failures += 1;
        served += 1;
      }
    })();
    const before = await supergraph.graphql('{ apiKeys { id } }', {}, owner.accessToken);
    expect(before.errors).toBeUndefined();

    // A new supergraph without Query.apiKeys, as a deploy that removes a field would ship.
    const current = readFileSync(liveSupergraph, 'utf8');
    const next = current
      .replace(/^\s*"""[^"]*"""\s*\n\s*apiKeys: .*\n/m, '\n')
      .replace(/^\s*apiKeys: .*\n/m, '');
    expect(next).not.toBe(current);
    writeFileSync(liveSupergraph, next);

    let after = before;
    for (let attempt = 0; attempt < 50 && !after.errors; attempt++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await supergraph.graphql('{ apiKeys { id } }', {}, owner.accessToken);
    }
    stop = true;
    await load;
    expect(after.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(served).toBeGreaterThan(0);
    expect(failures).toBe(0);
    expect(logLines.some((l) => l.msg === 'supergraph reloaded')).toBe(true);
  });
});
