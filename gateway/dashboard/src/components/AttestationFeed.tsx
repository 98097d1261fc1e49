import type { FeedItemFragment } from '../../../../generated/graphql/dashboard/operations.ts';
import { formatTime } from '../format.ts';
import { VerdictChip } from './Verdict.tsx';

interface FeedProps {
  items: readonly FeedItemFragment[] | null;
  onOpen: (id: string) => void;
}

function gpuLabel(item: FeedItemFragment): string {
  if (!item.gpu) return item.gpuUuid;
  return `${item.gpu.node.hostname} · GPU ${item.gpu.index} ${item.gpu.name}`;
}

/** Attestations of the organization, newest first, updated as their status changes. */
export function AttestationFeed({ items, onOpen }: FeedProps) {
  return (
    <section class="panel feed" aria-labelledby="feed-heading">
      <h2 id="feed-heading">Attestations</h2>
      {items === null ? <p>Loading attestations…</p> : null}
      {items?.length === 0 ? <p>No attestations yet.</p> : null}
      <ol class="feed-list" aria-live="polite" aria-relevant="additions text">
        {items?.map((item) => (
          <li key={item.id} data-attestation-id={item.id} data-status={item.status}>
            <button type="button" class="feed-item" onClick={() => onOpen(item.id)}>
              <VerdictChip item={item} />
              <span class="feed-gpu">{gpuLabel(item)}</span>
              <span class="muted">
                {item.trigger.toLowerCase()} · submitted {formatTime(item.submittedAt)}
                {item.completedAt ? ` · done ${formatTime(item.completedAt)}` : ''}
              </span>
              {item.error ? <span class="feed-error">{item.error}</span> : null}
            </button>
          </li>
        ))}
      </ol>
    </section>
  );
}
