/**
 * When to refresh a token that lives `expiresInSeconds`: a minute before expiry, or at three
 * quarters of its life when it is shorter than four minutes, so a slow network still has time.
 */
export function refreshDelayMs(expiresInSeconds: number): number {
  const lead = Math.min(60, expiresInSeconds / 4);
  return Math.max(1_000, (expiresInSeconds - lead) * 1_000);
}

/**
 * Exponential backoff with jitter: 0.5 s, 1 s, 2 s … capped at 30 s, each drawn from the upper
 * half of its step so that many dashboards cut off together do not reconnect in lockstep.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(30_000, 500 * 2 ** attempt);
  return Math.round(step / 2 + (random() * step) / 2);
}
