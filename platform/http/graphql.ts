import type { ApolloServer, BaseContext, HTTPGraphQLRequest } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson, type RequestScope, type RouteHandler } from './server.ts';

/**
 * Serves an Apollo Server (gateway or subgraph) on a route of `createHttpServer`. Bodies are
 * capped before parsing, invalid JSON is a 400 with a GraphQL-shaped error, and the context
 * builder sees the raw request so HTTP and (later) WebSocket share one context shape.
 */
export function graphqlRoute<TContext extends BaseContext>(
  apollo: ApolloServer<TContext>,
  options: {
    maxBodyBytes: number;
    /** Operations accepted in one batched (JSON array) request; more is a 400 before any work. */
    maxBatchSize?: number;
    context: (req: IncomingMessage, scope: RequestScope) => Promise<TContext>;
  },
): RouteHandler {
  return async (req, res, scope) => {
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    let body: unknown = undefined;
    if (req.method === 'POST') {
      const raw = await readBody(req, options.maxBodyBytes);
      const contentType = headers.get('content-type') ?? '';
      if (contentType.includes('json')) {
        try {
          body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
          if (Array.isArray(body) && body.length > (options.maxBatchSize ?? 1)) {
            return sendGraphQLError(
              res,
              400,
              `Batched request has ${body.length} operations; at most ${options.maxBatchSize ?? 1} are allowed`,
              'BAD_REQUEST',
              scope,
            );
          }
        } catch (error) {
          return sendGraphQLError(
            res,
            400,
            `Request body is not valid JSON: ${(error as Error).message}`,
            'BAD_REQUEST',
            scope,
          );
        }
      } else {
        body = raw.toString('utf8');
      }
    }
    const httpGraphQLRequest: HTTPGraphQLRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      headers,
      search: scope.url.search,
      body,
    };
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest,
      context: () => options.context(req, scope),
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
}

function sendGraphQLError(
  res: ServerResponse,
  status: number,
  message: string,
  code: string,
  scope: RequestScope,
): void {
  sendJson(res, status, {
    errors: [{ message, extensions: { code, requestId: scope.requestId } }],
  });
}
