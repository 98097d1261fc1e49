import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

/** A real OTLP/HTTP endpoint: collects the JSON spans the gateway exports. */
interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}
const spans: ExportedSpan[] = [];
let collector: Server;
let supergraph: TestSupergraph;

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: { scopeSpans: { spans: ExportedSpan[] }[] }[];
        };
        for (const resource of body.resourceSpans)
          for (const scope of resource.scopeSpans) spans.push(...scope.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const port = (collector.address() as AddressInfo).port;
  supergraph = await startTestSupergraph({
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
  });
});
afterAll(async () => {
  await supergraph.stop();
  collector.close();
});

describe('OpenTelemetry export', () => {
  it('exports the gateway’s request and subgraph-fetch spans inside the caller’s trace', async () => {
    const user = await signUp(supergraph, 'traced');
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const response = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${user.accessToken}`,
        traceparent: `00-${traceId}-b7ad6b7169203331-01`,
      },
      body: JSON.stringify({ query: '{ me { email } }' }),
    });
    expect(response.status).toBe(200);
    let ours: ExportedSpan[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      ours = spans.filter((s) => s.traceId === traceId);
      if (ours.some((s) => s.name === 'gateway.fetch')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const names = ours.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining(['gateway.request', 'gateway.execute', 'gateway.fetch']),
    );
    expect(ours.find((s) => s.name === 'gateway.request')?.parentSpanId).toBe('b7ad6b7169203331');
  });
});
