import type { GpuLiveFragment } from '../../../../generated/graphql/dashboard/operations.ts';
import { formatNumber } from '../format.ts';
import { migLayout } from '../state/fleet.ts';

/** The GPU's MIG instances drawn as slices of its placement grid, with a text equivalent. */
export function MigLayout({ gpu }: { gpu: GpuLiveFragment }) {
  if (!gpu.migMode.current) {
    return (
      <p class="mig-off">
        MIG off{gpu.migMode.pending ? ' (enabled after the next GPU reset)' : ''}
      </p>
    );
  }
  const { slots, slices } = migLayout(gpu);
  const summary =
    slices.length === 0
      ? 'MIG on, no instances'
      : `MIG on: ${slices
          .map(
            (s) =>
              `${s.profile} (GI ${s.gpuInstanceId}) at slices ${s.start}–${s.start + s.size - 1}`,
          )
          .join(', ')}; ${slots - slices.reduce((n, s) => n + s.size, 0)} of ${slots} slices free`;
  return (
    <figure class="mig">
      <div
        class="mig-grid"
        role="img"
        aria-label={summary}
        style={{ gridTemplateColumns: `repeat(${slots}, 1fr)` }}
      >
        {slices.map((slice) => (
          <div
            key={slice.gpuInstanceId}
            class="mig-slice"
            style={{ gridColumn: `${slice.start + 1} / span ${slice.size}` }}
            title={`${slice.profile}: GPU instance ${slice.gpuInstanceId}, ${formatNumber(slice.memoryMiB, 'MiB')}`}
          >
            {slice.profile}
          </div>
        ))}
      </div>
      <figcaption>
        {slices.length === 0
          ? 'MIG on, no instances yet'
          : `${slices.length} MIG instance${slices.length === 1 ? '' : 's'}`}
      </figcaption>
    </figure>
  );
}
