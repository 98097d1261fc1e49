import type { QuotaQuery } from '../../../../generated/graphql/dashboard/operations.ts';
import { formatNumber } from '../format.ts';
import { Meter } from './Meter.tsx';

type Limit = NonNullable<QuotaQuery['organization']>['quota']['limits'][number];

const labels: Record<string, { label: string; unit: string; scale?: number }> = {
  CONCURRENT_ATTESTATIONS: { label: 'Attestations running', unit: '' },
  ATTESTATIONS_PER_DAY: { label: 'Attestations today', unit: '' },
  GPU_ALLOCATION_HOURS: { label: 'GPU hours this month', unit: 'h' },
  MODEL_STORAGE_BYTES: { label: 'Model storage', unit: 'GiB', scale: 1024 ** 3 },
};

/**
 * The organization's quotas as gauges: used plus reserved against the limit. API cost per minute
 * is left to the rate-limit chart, which reads the gateway's bucket itself.
 */
export function QuotaPanel({ limits }: { limits: readonly Limit[] | null }) {
  const shown = (limits ?? []).filter((l) => labels[l.kind] && l.used !== null);
  return (
    <section class="panel quota" aria-labelledby="quota-heading">
      <h2 id="quota-heading">Quotas</h2>
      {limits === null ? <p>Loading quotas…</p> : null}
      {shown.map((limit) => {
        const { label, unit, scale = 1 } = labels[limit.kind] ?? { label: limit.kind, unit: '' };
        const inUse = (limit.used ?? 0) + (limit.reserved ?? 0);
        const text = `${formatNumber(inUse / scale)} / ${formatNumber(limit.limit / scale, unit)}`;
        return (
          <Meter
            key={limit.kind}
            label={label}
            value={inUse}
            max={limit.limit}
            text={text}
            warnAt={0.8}
            alertAt={0.95}
          />
        );
      })}
    </section>
  );
}
