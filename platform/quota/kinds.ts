/**
 * Quota kinds the resources subgraph keeps reservations for, and platform configuration can set
 * per tier or organization. API cost per minute is the gateway's rate limit (`RATE_LIMIT_<TIER>`).
 */
export const reservableQuotaKinds = [
  'CONCURRENT_ATTESTATIONS',
  'ATTESTATIONS_PER_DAY',
  'MODEL_STORAGE_BYTES',
  'GPU_ALLOCATION_HOURS',
] as const;

export type ReservableQuotaKind = (typeof reservableQuotaKinds)[number];
