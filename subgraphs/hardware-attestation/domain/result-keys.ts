import { SigningKeyRing, type SigningKeyStore } from '../../../platform/auth/key-ring.ts';
import type { Config } from '../../../platform/config.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { PrismaClient } from '../../../generated/prisma/hardware-attestation/client.ts';

function resultKeyStore(prisma: PrismaClient): SigningKeyStore {
  return {
    published: (now) =>
      prisma.signingKey.findMany({
        where: { OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
        orderBy: { createdAt: 'desc' },
      }),
    rotate: async (key, now, overlapEnds) => {
      await prisma.$transaction([
        prisma.signingKey.updateMany({
          where: { retiredAt: null },
          data: { retiredAt: now, expiresAt: overlapEnds },
        }),
        prisma.signingKey.create({ data: { ...key, publicJwk: key.publicJwk as object } }),
      ]);
    },
  };
}

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
    store: resultKeyStore(prisma),
    secret: config.secret,
    alg: config.ATTESTATION_RESULT_KEY_ALG,
    purpose: 'attestation-result-keys/v1',
    rotationSeconds: config.ATTESTATION_RESULT_KEY_ROTATION_HOURS * 3600,
    retiredKeyOverlapSeconds: config.ATTESTATION_RESULT_KEY_OVERLAP_HOURS * 3600,
    logger,
  });
}
