import type { Config } from '../../platform/config.ts';
import { createDomainDatabase } from '../../platform/db/domain.ts';
import type { Logger } from '../../platform/logger.ts';
import { PrismaClient } from '../../generated/prisma/identity/client.ts';
import { createKeyRing } from './domain/signing-keys.ts';

/** `lotabots keys rotate`: a new signing key now; running replicas pick it up within a minute. */
export async function rotateSigningKey(config: Config, logger: Logger): Promise<string> {
  const database = await createDomainDatabase({ config, domain: 'identity', logger, PrismaClient });
  try {
    const keys = createKeyRing(database.prisma, config, logger);
    return await keys.rotate('manual');
  } finally {
    await database.close();
  }
}
