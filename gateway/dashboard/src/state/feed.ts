import type { FeedItemFragment } from '../../../../generated/graphql/dashboard/operations.ts';

/** How many attestations the feed keeps; older ones are a query away in the API. */
export const FEED_LIMIT = 50;

const progress: Record<FeedItemFragment['status'], number> = {
  PENDING: 0,
  RUNNING: 1,
  VERIFIED: 2,
  FAILED: 2,
  ERROR: 2,
};

/**
 * Adds or updates an attestation in the feed, newest submission first. An event that arrives late
 * (RUNNING after VERIFIED, say, from a slower path) never moves an attestation backwards.
 */
export function upsertAttestation(
  feed: readonly FeedItemFragment[],
  item: FeedItemFragment,
): FeedItemFragment[] {
  const existing = feed.find((f) => f.id === item.id);
  if (existing && progress[existing.status] > progress[item.status]) return [...feed];
  const merged = existing ? { ...existing, ...item, gpu: item.gpu ?? existing.gpu } : item;
  return [merged, ...feed.filter((f) => f.id !== item.id)]
    .sort((a, b) => b.submittedAt.localeCompare(a.submittedAt))
    .slice(0, FEED_LIMIT);
}
