import { createRemoteJWKSet } from 'jose';
import type { Config } from '../config.ts';
import type { EventBus } from '../events/index.ts';
import type { Logger } from '../logger.ts';
import { createAccessTokenVerifier, type AccessTokenVerifier } from './access-token.ts';
import { ApiKeyExchange } from './api-key-exchange.ts';

/**
 * What every service other than identity needs from it: a verifier for access tokens against
 * identity's published keys, and the exchange that turns `lb_…` API keys into access tokens.
 */
export interface IdentityClient {
  /** Where the keys come from (readiness checks fetch it). */
  jwksUrl: string;
  verifyAccessToken: AccessTokenVerifier;
  apiKeys: ApiKeyExchange;
}

export function createIdentityClient(options: {
  config: Config;
  /** identity's /graphql URL (or its base URL). */
  identityUrl: string;
  events: EventBus;
  logger: Logger;
}): IdentityClient {
  const { config } = options;
  const identityBase = options.identityUrl.replace(/\/graphql$/, '');
  const jwksUrl = config.JWKS_URL ?? `${identityBase}/.well-known/jwks.json`;
  return {
    jwksUrl,
    // Keys are cached per `kid`; an unknown kid (after a rotation) triggers at most one refetch a
    // second, and the set is refetched every minute so a withdrawn key stops working within a
    // minute.
    verifyAccessToken: createAccessTokenVerifier({
      keys: createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 1_000, cacheMaxAge: 60_000 }),
      issuer: config.issuer,
      audience: config.TOKEN_AUDIENCE,
    }),
    apiKeys: new ApiKeyExchange(
      `${identityBase}/auth/api-key-token`,
      options.events,
      options.logger,
    ),
  };
}
