import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

let supergraph: TestSupergraph;
beforeAll(async () => {
  supergraph = await startTestSupergraph({ MAX_BODY_BYTES: '65536' });
});
afterAll(async () => {
  await supergraph.stop();
});

const post = (
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) => fetch(`${supergraph.baseUrl}/graphql`, { method: 'POST', headers, body });

describe('gateway HTTP surface', () => {
  it('answers liveness, readiness with each dependency, and Prometheus metrics', async () => {
    const health = await fetch(`${supergraph.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', service: 'gateway' });

    const ready = await fetch(`${supergraph.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    const readiness = (await ready.json()) as {
      ready: boolean;
      checks: Record<string, { ok: boolean }>;
    };
    expect(readiness.ready).toBe(true);
    expect(Object.keys(readiness.checks)).toEqual(
      expect.arrayContaining(['subgraph:identity', 'objects']),
    );

    await supergraph.graphql('query Probe { me { id } }');
    const metrics = await (await fetch(`${supergraph.baseUrl}/metrics`)).text();
    expect(metrics).toContain('lotabots_http_requests_total');
    expect(metrics).toMatch(/lotabots_graphql_operations_total\{[^}]*operation="Probe"/);

    const subgraphMetrics = await (
      await fetch(supergraph.identity.url.replace('/graphql', '/metrics'))
    ).text();
    expect(subgraphMetrics).toContain('service="identity"');
  });

  it('echoes a request id and puts it on errors', async () => {
    const response = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-me-123' },
      body: JSON.stringify({
        query:
          'mutation { login(input: { email: "x@example.com", password: "wrong password" }) { accessToken } }',
      }),
    });
    expect(response.headers.get('x-request-id')).toBe('trace-me-123');
    const body = (await response.json()) as { errors: { extensions: { requestId: string } }[] };
    expect(body.errors[0]?.extensions.requestId).toBe('trace-me-123');
  });

  it('rejects invalid JSON with 400 and a GraphQL-shaped error', async () => {
    const response = await post('{"query": ');
    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      errors: { message: string; extensions: { code: string } }[];
    };
    expect(body.errors[0]?.extensions.code).toBe('BAD_REQUEST');
    expect(body.errors[0]?.message).toMatch(/not valid JSON/);
  });

  it('refuses bodies over the limit with 413 before parsing them', async () => {
    const huge = JSON.stringify({
      query: `{ me { id } }`,
      variables: { pad: 'x'.repeat(100_000) },
    });
    const response = await post(huge);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('reports unparsable and invalid operations with their codes', async () => {
    const parse = await post(JSON.stringify({ query: '{ me { ' }));
    expect(parse.status).toBe(400);
    expect(
      ((await parse.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions
        .code,
    ).toBe('GRAPHQL_PARSE_FAILED');
    const invalid = await post(JSON.stringify({ query: '{ me { password } }' }));
    expect(invalid.status).toBe(400);
    expect(
      ((await invalid.json()) as { errors: { extensions: { code: string } }[] }).errors[0]
        ?.extensions.code,
    ).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('refuses a body that is not JSON and a simple cross-site GET (CSRF prevention)', async () => {
    const text = await post('{ me { id } }', { 'content-type': 'text/plain' });
    expect(text.status).toBe(400);
    const simpleGet = await fetch(
      `${supergraph.baseUrl}/graphql?query=${encodeURIComponent('{ me { id } }')}`,
    );
    expect(simpleGet.status).toBe(400);
    const preflighted = await fetch(
      `${supergraph.baseUrl}/graphql?query=${encodeURIComponent('{ me { id } }')}`,
      {
        headers: { 'apollo-require-preflight': 'true' },
      },
    );
    expect(preflighted.status).toBe(200);
    expect(await preflighted.json()).toEqual({ data: { me: null } });
  });

  it('serves queries but not mutations over GET', async () => {
    const user = await signUp(supergraph);
    const mutation = `mutation { logout(input: { refreshToken: "${user.refreshToken}" }) }`;
    const response = await fetch(
      `${supergraph.baseUrl}/graphql?query=${encodeURIComponent(mutation)}`,
      {
        headers: { 'apollo-require-preflight': 'true' },
      },
    );
    expect(response.status).toBe(405);
  });

  it('serves the Sandbox landing page to browsers in development', async () => {
    const response = await fetch(`${supergraph.baseUrl}/`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(await response.text()).toMatch(/sandbox/i);
  });

  it('answers 404 for unknown paths and 405 for wrong methods', async () => {
    expect((await fetch(`${supergraph.baseUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${supergraph.baseUrl}/healthz`, { method: 'DELETE' })).status).toBe(405);
  });
});
