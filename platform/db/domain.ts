import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { ReadinessCheck } from '../subgraph-server.ts';
import { createPrismaClient, openDomainDatabase, type DomainDatabase } from './database.ts';
import { applyPendingMigrations } from './migrate.ts';

export interface PrismaLike {
  $queryRawUnsafe(query: string): Promise<unknown>;
  $disconnect(): Promise<void>;
}

export interface DomainDatabaseHandle<Client> {
  db: DomainDatabase;
  prisma: Client;
  readiness: ReadinessCheck;
  close(): Promise<void>;
}

/**
 * What every domain service does at start: open its database (PGlite or its PostgreSQL schema),
 * apply pending migrations under the migration lock, and build its generated Prisma client.
 */
export async function createDomainDatabase<Client extends PrismaLike>(options: {
  config: Config;
  domain: string;
  logger: Logger;
  PrismaClient: new (options: { adapter: SqlDriverAdapterFactory }) => Client;
}): Promise<DomainDatabaseHandle<Client>> {
  const db = await openDomainDatabase(options);
  try {
    await applyPendingMigrations({ db, logger: options.logger });
  } catch (error) {
    await db.close();
    throw error;
  }
  const prisma = createPrismaClient(options.PrismaClient, db);
  return {
    db,
    prisma,
    readiness: {
      name: `database:${db.kind}`,
      check: async () => void (await prisma.$queryRawUnsafe('SELECT 1')),
    },
    async close() {
      await prisma.$disconnect();
      await db.close();
    },
  };
}
