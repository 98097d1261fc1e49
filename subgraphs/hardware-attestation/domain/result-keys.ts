import { SigningKeyRing, signingKeyTable } from '../../../platform/auth/key-ring.ts';
import type { Config } from '../../../platform/config.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { PrismaClient } from '../../../generated/prisma/hardware-attestation/client.ts';

/**
 * The keys that sign attestation results (EAR). Results are kept and re-verified long after they
 * were issued, so a retired key stays published for ATTESTATION_RESULT_KEY_OVERLAP_HOURS (a year
 * by default), not minutes as access-token keys do.
 */
export function createResultKeyRing(
  prisma: PrismaClient,
  config: Config,
  logger: Logger,
): SigningKeyRing {
  return new SigningKeyRing({
    store: signingKeyTable(prisma.signingKey, (work) =>
      prisma.$transaction((tx) => work(tx.signingKey)),
    ),
    secret: config.secret,
    alg: config.ATTESTATION_RESULT_KEY_ALG,
    purpose: 'attestation-result-keys/v1',
    rotationSeconds: config.ATTESTATION_RESULT_KEY_ROTATION_HOURS * 3600,
    retiredKeyOverlapSeconds: config.ATTESTATION_RESULT_KEY_OVERLAP_HOURS * 3600,
    logger,
  });
}
