import { badInput } from '../errors.ts';
import { isUuid } from '../ids.ts';

/**
 * Relay cursors for lists ordered by (time, id) descending: opaque to clients, stable under
 * inserts, and checked on the way in so a forged cursor is a BAD_USER_INPUT, not a query error.
 */
export function encodeTimeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

/** The (time, id) an `after` argument names; null when absent. */
export function decodeTimeCursor(
  after: string | null | undefined,
): { at: Date; id: string } | null {
  if (!after) return null;
  const [at, id] = Buffer.from(after, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  if (!id || !isUuid(id) || Number.isNaN(date.getTime())) {
    throw badInput('after is not a cursor this query returned', { field: 'after' });
  }
  return { at: date, id };
}

/**
 * A Relay connection over rows fetched newest first with one extra row (`take + 1`): the extra
 * row only says there is a next page.
 */
export function timeConnection<T extends { id: string }>(
  rows: T[],
  take: number,
  at: (row: T) => Date,
) {
  const edges = rows.slice(0, take);
  const last = edges.at(-1);
  return {
    edges: edges.map((node) => ({ cursor: encodeTimeCursor(at(node), node.id), node })),
    pageInfo: {
      hasNextPage: rows.length > take,
      endCursor: last ? encodeTimeCursor(at(last), last.id) : null,
    },
  };
}
