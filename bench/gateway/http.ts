/**
 * Minimal HTTP serving for the benchmark's plain gateway and synthetic subgraphs: what
 * `platform/http/graphql.ts` does for a single JSON POST (read the body under a cap, parse it, hand
 * it to `executeHTTPGraphQLRequest`, write the answer) without request ids, logging, metrics,
 * tracing or CORS, which are part of what the benchmark measures in the real gateway.
 */
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { closeServer, listen } from '../../platform/http/server.ts';

const MAX_BODY_BYTES = 1_048_576;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return size === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Serves `apollo` at POST /graphql on a loopback port; `onRequest` runs once per request. */
export async function serveGraphQL<TContext extends BaseContext>(
  apollo: ApolloServer<TContext>,
  context: (req: IncomingMessage) => TContext,
  onRequest: () => void = () => undefined,
): Promise<{ url: string; server: Server; stop: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/graphql' || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    onRequest();
    const handle = async () => {
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: {
          method: 'POST',
          headers,
          search: url.search,
          body: await readJson(req),
        },
        context: () => Promise.resolve(context(req)),
      });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    };
    handle().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  const bound = await listen(server, '127.0.0.1', 0);
  return {
    url: `${bound.url}/graphql`,
    server,
    stop: async () => {
      await closeServer(server);
      await apollo.stop();
    },
  };
}
