import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

/** One sample of a Prometheus metric from `baseUrl`'s /metrics (0 when absent), e.g. `kind="group"`. */
export async function metricValue(baseUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** The gateway's WebSocket URL for a base URL such as http://127.0.0.1:41234. */
export function wsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/^http/, 'ws')}/graphql`;
}

/** A graphql-ws client (the library browsers and dashboards use) authenticated with `credential`. */
export function subscriptionClient(
  baseUrl: string,
  credential: string,
  options: { onClosed?: (event: { code: number; reason: string }) => void } = {},
): Client {
  return createClient({
    url: wsUrl(baseUrl),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${credential}` },
    retryAttempts: 0,
    lazy: false,
    // Tests assert on close codes themselves; the default would print every close.
    onNonLazyError: () => {},
    on: {
      closed: (event) => options.onClosed?.(event as { code: number; reason: string }),
    },
  });
}

export interface Collected<T extends Record<string, unknown>> {
  results: FormattedExecutionResult<T, unknown>[];
  /** Resolves once `count` results have arrived (rejects after `timeoutMs`). */
  waitFor: (count: number, timeoutMs?: number) => Promise<FormattedExecutionResult<T, unknown>[]>;
  /** Resolves when the server completes the subscription (or it fails). */
  ended: Promise<{ completed: boolean; error?: unknown }>;
  stop: () => void;
}

/** Subscribes and records every result in arrival order. */
export function collect<T extends Record<string, unknown> = Record<string, unknown>>(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
): Collected<T> {
  const results: FormattedExecutionResult<T, unknown>[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let settle: (value: { completed: boolean; error?: unknown }) => void = () => {};
  const ended = new Promise<{ completed: boolean; error?: unknown }>((resolve) => {
    settle = resolve;
  });
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        results.push(result);
        for (const waiter of waiters.filter((w) => results.length >= w.count)) waiter.resolve();
      },
      error: (error) => settle({ completed: false, error }),
      complete: () => settle({ completed: true }),
    },
  );
  return {
    results,
    ended,
    stop,
    waitFor: (count, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        if (results.length >= count) return resolve(results.slice());
        const timer = setTimeout(
          () =>
            reject(
              new Error(`expected ${count} results, got ${results.length} in ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(results.slice());
          },
        });
      }),
  };
}

/** A raw `graphql-transport-ws` connection, for what a library client hides (close codes, pings). */
export interface RawConnection {
  socket: WebSocket;
  messages: { type: string; id?: string; payload?: unknown }[];
  closed: Promise<{ code: number; reason: string }>;
  send: (message: Record<string, unknown>) => void;
  /** Resolves with the first message of `type` (after those already received). */
  next: (type: string, timeoutMs?: number) => Promise<{ type: string; payload?: unknown }>;
}

export async function rawConnection(
  baseUrl: string,
  connectionParams: Record<string, unknown> | undefined,
  headers: Record<string, string> = {},
): Promise<RawConnection> {
  const socket = new WebSocket(wsUrl(baseUrl), 'graphql-transport-ws', { headers });
  const messages: RawConnection['messages'] = [];
  const listeners = new Set<() => void>();
  socket.on('message', (data: Buffer) => {
    messages.push(JSON.parse(data.toString('utf8')) as RawConnection['messages'][number]);
    for (const listener of listeners) listener();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams }));
  let seen = 0;
  return {
    socket,
    messages,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    next: (type, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          for (; seen < messages.length; seen++) {
            const message = messages[seen];
            if (message?.type === type) {
              seen++;
              listeners.delete(check);
              clearTimeout(timer);
              resolve(message);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${type} message within ${timeoutMs} ms`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
  };
}
