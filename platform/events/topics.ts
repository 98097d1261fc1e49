/**
 * Topics that cross service boundaries, named once so publisher and subscribers cannot drift.
 * Payloads are documented next to each name.
 */

/** An API key was revoked: `{ prefix: string; apiKeyId: string }`. Gateways drop cached exchanges. */
export const apiKeyRevokedTopic = 'identity.api-key.revoked';
