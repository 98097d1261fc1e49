import type { Config } from '../../platform/config.ts';
import { createDomainDatabase } from '../../platform/db/domain.ts';
import type { Logger } from '../../platform/logger.ts';
import { PrismaClient } from '../../generated/prisma/identity/client.ts';
import { KeyRing } from './domain/signing-keys.ts';

/** `lotabots keys rotate`: a new signing key now; running replicas pick it up within a minute. */
export async function rotateSigningKey(config: Config, logger: Logger): Promise<string> {
  const database = await createDomainDatabase({ config, domain: 'identity', logger, PrismaClient });
  try {
    const keys = new KeyRing({
      prisma: database.prisma,
      secret: config.secret,
      alg: config.SIGNING_KEY_ALG,
      issuer: config.issuer,
      audience: config.TOKEN_AUDIENCE,
      rotationSeconds: config.SIGNING_KEY_ROTATION_HOURS * 3600,
      retiredKeyOverlapSeconds: config.ACCESS_TOKEN_TTL_SECONDS + 60,
      logger,
    });
    return await keys.rotate('manual');
  } finally {
    await database.close();
  }
}
