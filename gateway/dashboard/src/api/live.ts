import { createClient, type Client } from 'graphql-ws/client';
import type { TypedDocumentString } from '../../../../generated/graphql/dashboard/operations.ts';
import { graphqlUrl } from './client.ts';
import { reconnectDelayMs } from './timing.ts';

/** What the connection status shows. */
export interface LinkState {
  phase: 'connecting' | 'live' | 'reconnecting' | 'stopped';
  /** Reconnect attempts since the connection was last live. */
  attempt: number;
  /** When the next attempt starts (epoch ms), while reconnecting. */
  retryAt: number | null;
  /** How many times the connection came back after a drop. */
  reconnects: number;
  /** Why the last connection closed, as the gateway said. */
  lastCloseReason: string | null;
}

function websocketUrl(): string {
  const url = new URL(graphqlUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

function closeReason(event: unknown): string | null {
  if (typeof event !== 'object' || event === null || !('code' in event)) return null;
  const { code, reason } = event as { code: number; reason?: string };
  return reason ? `${code}: ${reason}` : `closed (${code})`;
}

/**
 * The dashboard's one `graphql-transport-ws` connection. It authenticates with the current access
 * token in `connection_init`, renews it in a ping before it expires (the gateway's protocol for
 * keeping subscriptions across a refresh), and reconnects forever with backoff while a session
 * exists; graphql-ws re-subscribes every active operation after a reconnect.
 */
export class LiveLink {
  private readonly client: Client;
  private socket: WebSocket | null = null;
  private everConnected = false;
  private state: LinkState = {
    phase: 'connecting',
    attempt: 0,
    retryAt: null,
    reconnects: 0,
    lastCloseReason: null,
  };

  constructor(
    private readonly accessToken: () => string | null,
    private readonly onState: (state: LinkState) => void,
    /** Called after a reconnect, so the page can fetch what it missed while cut off. */
    private readonly onReconnected: () => void,
  ) {
    this.client = createClient({
      url: websocketUrl(),
      lazy: false,
      keepAlive: 15_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      connectionParams: () => ({ authorization: `Bearer ${this.accessToken() ?? ''}` }),
      shouldRetry: () => this.accessToken() !== null,
      retryWait: async (retries) => {
        const delay = reconnectDelayMs(retries);
        this.update({ phase: 'reconnecting', attempt: retries + 1, retryAt: Date.now() + delay });
        await new Promise((resolve) => setTimeout(resolve, delay));
      },
      on: {
        connecting: () => {
          if (this.state.phase !== 'reconnecting') this.update({ phase: 'connecting' });
        },
        connected: (socket) => {
          this.socket = socket as WebSocket;
          const wasDrop = this.everConnected;
          this.everConnected = true;
          this.update({
            phase: 'live',
            attempt: 0,
            retryAt: null,
            reconnects: this.state.reconnects + (wasDrop ? 1 : 0),
          });
          if (wasDrop) this.onReconnected();
        },
        closed: (event) => {
          this.socket = null;
          const stopped = this.accessToken() === null;
          this.update({
            phase: stopped ? 'stopped' : 'reconnecting',
            lastCloseReason: closeReason(event),
          });
        },
      },
    });
  }

  /** Subscribes to a typed operation; returns the unsubscribe function. */
  subscribe<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    onData: (data: TResult) => void,
    onError: (message: string) => void,
  ): () => void {
    return this.client.subscribe<TResult>(
      { query: document.toString(), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length) onError(result.errors.map((e) => e.message).join('; '));
          if (result.data) onData(result.data);
        },
        error: (error) => onError(closeReason(error) ?? String(error)),
        complete: () => undefined,
      },
    );
  }

  /** Hands the gateway a refreshed token so the open connection outlives the old one. */
  renewToken(accessToken: string): void {
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    this.socket.send(
      JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${accessToken}` } }),
    );
  }

  dispose(): void {
    this.update({ phase: 'stopped', retryAt: null });
    void this.client.dispose();
  }

  private update(change: Partial<LinkState>): void {
    this.state = { ...this.state, ...change };
    this.onState(this.state);
  }
}
