import type { Role, Tier } from './roles.ts';

/** Who is calling, as proven by a verified access token. */
export interface Principal {
  /** `sub` of the token: a user id, or `apikey:<id>` for API keys. */
  subject: string;
  userId: string | null;
  apiKeyId: string | null;
  organizationId: string;
  role: Role;
  tier: Tier;
  tokenId: string;
  expiresAt: Date;
}
