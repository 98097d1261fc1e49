import type { GatewayExecutionResult } from '@apollo/server-gateway-interface';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { WebSocket } from 'ws';
import { maskError } from '../../platform/errors.ts';
import type { EventQueue } from '../../platform/subscriptions/event-queue.ts';

/** What a client sees of an error: its code and message; internal details masked. */
export function formatError(error: GraphQLError | GraphQLFormattedError): GraphQLFormattedError {
  const formatted = error instanceof GraphQLError ? error.toJSON() : error;
  const requestId = formatted.extensions?.requestId;
  return maskError(formatted, typeof requestId === 'string' ? requestId : undefined);
}

/**
 * A resolved event as the JSON `payload` of a `next` message, serialised once for every
 * subscriber that receives it (a fan-out group shares one result among all its members).
 */
export function serializeEvent(result: GatewayExecutionResult): string {
  return JSON.stringify({
    ...(result.errors?.length ? { errors: result.errors.map(formatError) } : {}),
    ...(result.data !== undefined ? { data: result.data } : {}),
    ...(result.extensions ? { extensions: result.extensions } : {}),
  });
}

/**
 * The stream graphql-ws consumes for one subscription. Instead of yielding results for graphql-ws
 * to serialise per subscriber, it writes each pre-serialised event as a `next` frame itself and
 * waits for the socket to take it before reading the next one — so a slow client leaves events in
 * its bounded queue, where the slow-consumer policy applies. graphql-ws still runs the protocol:
 * `complete` when the queue ends, `return()` (client `complete`, closed socket) ends the queue.
 */
export function frameWriter(
  queue: EventQueue<string>,
  socket: WebSocket,
  id: string,
): AsyncIterableIterator<never> {
  const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  const write = (payload: string) =>
    new Promise<boolean>((resolve) => {
      if (socket.readyState !== socket.OPEN) return resolve(false);
      socket.send(`${prefix}${payload}}`, (err) => resolve(!err));
    });
  const iterator: AsyncIterableIterator<never> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      for (;;) {
        const item = await queue.next();
        if (item.done) return { value: undefined, done: true };
        if (!(await write(item.value))) {
          await queue.return();
          return { value: undefined, done: true };
        }
      }
    },
    return: async () => {
      await queue.return();
      return { value: undefined, done: true };
    },
  };
  return iterator;
}
