import type { GpuLiveFragment } from '../../../../generated/graphql/dashboard/operations.ts';
import { formatNumber } from '../format.ts';
import { Meter } from './Meter.tsx';
import { MigLayout } from './MigLayout.tsx';

interface GpuCardProps {
  gpu: GpuLiveFragment;
  hostname: string;
  /** Present when the user may submit attestations. */
  onAttest?: (gpu: GpuLiveFragment) => void;
  attesting: boolean;
}

/** One GPU's live gauges, MIG layout and, for operators, the button that attests it. */
export function GpuCard({ gpu, hostname, onAttest, attesting }: GpuCardProps) {
  const title = `GPU ${gpu.index}: ${gpu.name}`;
  return (
    <article class="gpu" aria-label={`${hostname} ${title}`} data-gpu-uuid={gpu.uuid}>
      <header class="gpu-header">
        <h4>{title}</h4>
        {gpu.confidentialComputeMode ? (
          <span class="tag">CC {gpu.confidentialComputeMode}</span>
        ) : null}
      </header>
      <Meter
        label="Utilization"
        value={gpu.utilizationPercent}
        max={100}
        text={formatNumber(gpu.utilizationPercent, '%')}
        warnAt={2}
        alertAt={2}
      />
      <Meter
        label="Memory"
        value={gpu.memoryUsedMiB}
        max={gpu.memoryTotalMiB}
        text={`${formatNumber(gpu.memoryUsedMiB)} / ${formatNumber(gpu.memoryTotalMiB, 'MiB')}`}
      />
      <Meter
        label="Temperature"
        value={gpu.temperatureC}
        max={100}
        text={formatNumber(gpu.temperatureC, '°C')}
        warnAt={0.8}
        alertAt={0.87}
      />
      <Meter
        label="Power"
        value={gpu.powerDrawW}
        max={gpu.powerLimitW ?? 700}
        text={`${formatNumber(gpu.powerDrawW)} / ${formatNumber(gpu.powerLimitW, 'W')}`}
        warnAt={0.9}
        alertAt={0.98}
      />
      <MigLayout gpu={gpu} />
      {onAttest ? (
        <button
          type="button"
          class="secondary"
          disabled={attesting}
          onClick={() => onAttest(gpu)}
          aria-label={`Attest ${hostname} GPU ${gpu.index}`}
        >
          {attesting ? 'Submitting…' : 'Attest'}
        </button>
      ) : null}
    </article>
  );
}
