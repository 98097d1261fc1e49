import { createClient, type Client, type SubscribePayload } from 'graphql-ws';
import type { ExecutionResult } from 'graphql';
import WebSocket from 'ws';
import type { Logger } from '../../platform/logger.ts';

/** What an upstream subscription reports: each result, a failure, or the end of the stream. */
export interface UpstreamSink {
  next: (result: ExecutionResult<Record<string, unknown>>) => void;
  error: (error: unknown) => void;
  complete: () => void;
}

/**
 * graphql-ws connections from the gateway to the subgraphs that own subscription fields: one
 * connection per subgraph URL, multiplexing every subscription the gateway holds there (each
 * carries its own subscriber's token in `extensions`). A connection opens with its first
 * subscription, closes a few seconds after its last, and reconnects with backoff when the subgraph
 * restarts, subscribing again to everything it carried; events published while it was down are
 * not replayed (pub/sub is at most once).
 */
export class UpstreamConnections {
  private readonly clients = new Map<string, Client>();

  constructor(
    private readonly logger: Logger,
    private readonly keepAliveMs: number,
  ) {}

  subscribe(subgraphUrl: string, payload: SubscribePayload, sink: UpstreamSink): () => void {
    return this.clientFor(subgraphUrl).subscribe<Record<string, unknown>>(payload, sink);
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(clients.map((client) => Promise.resolve(client.dispose())));
  }

  private clientFor(subgraphUrl: string): Client {
    const url = subgraphUrl.replace(/^http/, 'ws');
    let client = this.clients.get(url);
    if (client) return client;
    const logger = this.logger.child({ upstream: url });
    client = createClient({
      url,
      webSocketImpl: WebSocket,
      lazy: true,
      lazyCloseTimeout: 5_000,
      keepAlive: this.keepAliveMs,
      // The subgraph never refuses the connection itself (tokens are checked per operation), so
      // any close is a restart or a network fault: keep trying, at most every 5 s.
      retryAttempts: Number.MAX_SAFE_INTEGER,
      shouldRetry: () => true,
      retryWait: (retries) =>
        new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** retries))),
      on: {
        connected: () => logger.debug('upstream subscription connection open'),
        closed: (event) => {
          const { code, reason } = event as { code?: number; reason?: string };
          if (code !== 1000) logger.warn({ code, reason }, 'upstream subscription connection lost');
        },
      },
    });
    this.clients.set(url, client);
    return client;
  }
}
