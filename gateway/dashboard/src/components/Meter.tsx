interface MeterProps {
  label: string;
  value: number | null;
  max: number;
  /** The value as read aloud and shown, e.g. `40,000 / 81,559 MiB`. */
  text: string;
  /** Where the bar turns amber and red, as fractions of max. */
  warnAt?: number;
  alertAt?: number;
}

/** A labelled horizontal gauge that screen readers announce as a meter. */
export function Meter({ label, value, max, text, warnAt = 0.8, alertAt = 0.95 }: MeterProps) {
  const fraction = value === null || max <= 0 ? 0 : Math.min(1, Math.max(0, value / max));
  const level = fraction >= alertAt ? 'alert' : fraction >= warnAt ? 'warn' : 'ok';
  return (
    <div class="meter">
      <div class="meter-label">
        <span>{label}</span>
        <span class="meter-value">{text}</span>
      </div>
      <div
        class="meter-track"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={max}
        aria-valuenow={value ?? 0}
        aria-valuetext={text}
      >
        <div class={`meter-fill meter-${level}`} style={{ width: `${fraction * 100}%` }} />
      </div>
    </div>
  );
}
