import type { Config } from '../config.ts';
import { sendJson, type Route } from '../http/server.ts';
import type { Logger } from '../logger.ts';
import { SigningKeyRing, signingKeyTable, type SigningKeyModel } from './key-ring.ts';

/** A domain's Prisma client, as far as its `SigningKey` table and transactions go. */
export interface SigningKeyClient {
  signingKey: SigningKeyModel;
  $transaction<T>(work: (tx: { signingKey: SigningKeyModel }) => Promise<T>): Promise<T>;
}

/**
 * The keys that sign attestation results (EAR tokens, DSSE envelopes, audit checkpoints).
 * Results are kept and re-verified long after they were issued, so a retired key stays published
 * for ATTESTATION_RESULT_KEY_OVERLAP_HOURS (a year by default), not minutes as access-token keys
 * do. `purpose` separates each domain's key encryption.
 */
export function createResultKeyRing(
  prisma: SigningKeyClient,
  config: Config,
  logger: Logger,
  purpose: string,
): SigningKeyRing {
  return new SigningKeyRing({
    store: signingKeyTable(prisma.signingKey, (work) =>
      prisma.$transaction((tx) => work(tx.signingKey)),
    ),
    secret: config.secret,
    alg: config.ATTESTATION_RESULT_KEY_ALG,
    purpose,
    rotationSeconds: config.ATTESTATION_RESULT_KEY_ROTATION_HOURS * 3600,
    retiredKeyOverlapSeconds: config.ATTESTATION_RESULT_KEY_OVERLAP_HOURS * 3600,
    logger,
  });
}

/** The route that publishes a result key ring (`GET /.well-known/jwks.json`); the gateway merges it. */
export function resultKeysRoute(ring: SigningKeyRing): Route {
  return {
    path: '/.well-known/jwks.json',
    methods: ['GET'],
    handler: (_req, res) =>
      sendJson(res, 200, ring.jwks(), { 'cache-control': 'public, max-age=60' }),
  };
}

/**
 * Keeps a result key ring current: every minute it reloads (replicas pick up keys rotated
 * elsewhere), every hour it rotates when the active key is old. Returns the timers to clear.
 */
export function maintainResultKeys(ring: SigningKeyRing, logger: Logger): NodeJS.Timeout[] {
  const timers = [
    setInterval(
      () =>
        void ring
          .reload()
          .catch((err: unknown) => logger.warn({ err }, 'result key reload failed')),
      60_000,
    ),
    setInterval(
      () =>
        void ring
          .initialize()
          .catch((err: unknown) => logger.error({ err }, 'result key rotation failed')),
      3_600_000,
    ),
  ];
  for (const timer of timers) timer.unref();
  return timers;
}
