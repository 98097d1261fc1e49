const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `12,345` or an em dash for a value the driver did not report. */
export function formatNumber(value: number | null | undefined, unit = ''): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return `${integer.format(value)}${unit ? ` ${unit}` : ''}`;
}

/** A local time with seconds, e.g. `14:03:27`. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleTimeString('en-GB', { hour12: false });
}

/** `3 s ago`, `4 min ago`: for last-seen stamps. */
export function formatAge(iso: string, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}
