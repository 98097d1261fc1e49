import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { createIdentityClient, type IdentityClient } from './auth/identity-client.ts';
import type { Config } from './config.ts';
import { createDomainDatabase, type DomainDatabaseHandle, type PrismaLike } from './db/domain.ts';
import type { Logger } from './logger.ts';
import type { Runtime } from './runtime.ts';

export interface DomainServiceBasics<Client extends PrismaLike> extends IdentityClient {
  config: Config;
  logger: Logger;
  database: DomainDatabaseHandle<Client>;
  prisma: Client;
}

/**
 * What every domain subgraph but identity opens first: a logger named for it, its own migrated
 * database, and the identity client that verifies the tokens the gateway forwards (and exchanges
 * API keys). One place, so the subgraphs cannot drift in how they start.
 */
export async function openDomainService<Client extends PrismaLike>(
  runtime: Runtime,
  options: {
    domain: string;
    PrismaClient: new (options: { adapter: SqlDriverAdapterFactory }) => Client;
    identityUrl: string;
  },
): Promise<DomainServiceBasics<Client>> {
  const { config } = runtime;
  const logger = runtime.logger.child({ service: options.domain });
  const database = await createDomainDatabase({
    config,
    domain: options.domain,
    logger,
    PrismaClient: options.PrismaClient,
  });
  const identity = createIdentityClient({
    config,
    identityUrl: options.identityUrl,
    events: runtime.events,
    logger,
  });
  return { ...identity, config, logger, database, prisma: database.prisma };
}
