import type { RateLimitSample } from '../api/client.ts';
import { formatNumber } from '../format.ts';

const WIDTH = 240;
const HEIGHT = 48;

/**
 * How much of the organization's rate-limit bucket is in use, over the last samples, as a small
 * line chart with the current figure in words beside it.
 */
export function RateLimitChart({ samples }: { samples: readonly RateLimitSample[] }) {
  const last = samples.at(-1);
  const used = samples.map((s) => (s.limit > 0 ? (s.limit - s.remaining) / s.limit : 0));
  const points = used
    .map((fraction, i) => {
      const x = samples.length === 1 ? WIDTH : (i / (samples.length - 1)) * WIDTH;
      const y = HEIGHT - fraction * (HEIGHT - 4) - 2;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
  const summary = last
    ? `${formatNumber(last.limit - last.remaining)} of ${formatNumber(last.limit)} cost units used; the bucket refills fully in ${formatNumber(last.resetSeconds)} s`
    : 'No requests measured yet';
  return (
    <section class="panel usage" aria-labelledby="usage-heading">
      <h2 id="usage-heading">Rate limit</h2>
      <p class="usage-summary">{summary}</p>
      <svg
        class="sparkline"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width={WIDTH}
        height={HEIGHT}
        role="img"
        aria-label={`Rate-limit use over the last ${samples.length} requests: ${summary}`}
      >
        <rect x="0" y="0" width={WIDTH} height={HEIGHT} class="sparkline-bg" />
        {samples.length > 0 ? <polyline points={points} class="sparkline-line" /> : null}
      </svg>
    </section>
  );
}
