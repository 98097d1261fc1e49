/**
 * Child process of `npm run bench:gateway`: autocannon, in a process of its own so generating
 * load takes none of the gateway's CPU time. Receives `{ type: 'run', … }` over IPC and answers
 * `{ type: 'result', … }`; exits when the parent goes away.
 *
 * Each connection sends its own access token (round robin over `tokens`): like distinct clients,
 * no two requests in flight at once carry the same credential, so the gateway cannot answer one
 * from another's subgraph calls (in-flight deduplication) — unless the parent passes one token.
 */
import autocannon from 'autocannon';

export interface LoadRequest {
  type: 'run';
  url: string;
  body: string;
  tokens: string[];
  expectBody: string;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  type: 'result';
  seconds: number;
  /** Responses received. */
  completed: number;
  /** Requests sent, including those still in flight when the phase ended. */
  sent: number;
  p50: number;
  p99: number;
  /** Connection errors, timeouts, non-2xx answers and answers that differ from `expectBody`. */
  errors: number;
}

process.on('message', (message: LoadRequest) => {
  if (message.type !== 'run') return;
  let next = 0;
  autocannon(
    {
      url: message.url,
      method: 'POST',
      connections: message.connections,
      duration: message.seconds,
      timeout: 30,
      headers: { 'content-type': 'application/json' },
      body: message.body,
      expectBody: message.expectBody,
      setupClient: (client) => {
        const token = message.tokens[next++ % message.tokens.length] ?? '';
        client.setHeaders({ 'content-type': 'application/json', authorization: `Bearer ${token}` });
      },
    },
    (error, result) => {
      if (error) throw error;
      const reply: LoadResult = {
        type: 'result',
        seconds: result.duration,
        completed: result.requests.total,
        sent: (result.requests as unknown as { sent: number }).sent,
        p50: result.latency.p50,
        p99: result.latency.p99,
        errors: result.errors + result.timeouts + result.non2xx + result.mismatches,
      };
      process.send?.(reply);
    },
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
