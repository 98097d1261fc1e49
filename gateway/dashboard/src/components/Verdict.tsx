import type { FeedItemFragment } from '../../../../generated/graphql/dashboard/operations.ts';

/**
 * An attestation's outcome as a colored chip that also says it in words (color is never the only
 * signal): the verdict once there is one, the status before.
 */
export function VerdictChip({ item }: { item: Pick<FeedItemFragment, 'status' | 'verdict'> }) {
  const final = item.status === 'VERIFIED' || item.status === 'FAILED' || item.status === 'ERROR';
  const label = final && item.verdict ? `${item.status} · ${item.verdict}` : item.status;
  const tone =
    item.status === 'ERROR' ? 'error' : !final ? 'pending' : (item.verdict ?? 'NONE').toLowerCase();
  return <span class={`chip chip-${tone}`}>{label}</span>;
}
