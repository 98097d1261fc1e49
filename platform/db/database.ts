import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import {
  pgliteMigrationConnection,
  pgMigrationConnection,
  type MigrationConnection,
} from './adapters.ts';

/**
 * One database per domain: an embedded PGlite under the data dir by default, or a schema of the
 * PostgreSQL server named by DATABASE_URL. Both are reached through Prisma driver adapters, so
 * domain code is the same either way.
 */

export type DatabaseKind = 'pglite' | 'postgresql';

export interface DomainDatabase {
  readonly kind: DatabaseKind;
  readonly domain: string;
  /** The PostgreSQL schema holding the domain's tables (`public` inside a domain's PGlite). */
  readonly schemaName: string;
  /** Pass to the domain's generated client: `new PrismaClient({ adapter: db.adapterFactory })`. */
  readonly adapterFactory: SqlDriverAdapterFactory;
  /** A connection for the schema engine (see adapters.ts); close it when the engine is freed. */
  openMigrationConnection(): MigrationConnection;
  /** Runs `fn` while no other process (PostgreSQL) or handle (PGlite) migrates this domain. */
  withMigrationLock<T>(fn: () => Promise<T>): Promise<T>;
  /** Releases the pool or the PGlite handle; clients built on it must be disconnected first. */
  close(): Promise<void>;
}

export interface OpenDomainDatabaseOptions {
  config: Pick<
    Config,
    'dataDir' | 'DATABASE_URL' | 'DATABASE_SCHEMA_PREFIX' | 'DATABASE_POOL_SIZE'
  >;
  domain: string;
  logger: Logger;
}

const DOMAIN_NAME = /^[a-z][a-z0-9-]*$/;
const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const MAX_IDENTIFIER_LENGTH = 63;

/** The PostgreSQL schema a domain lives in: the configured prefix plus the domain, `-` → `_`. */
export function domainSchemaName(prefix: string, domain: string): string {
  assertDomainName(domain);
  const name = `${prefix}${domain.replace(/-/g, '_')}`;
  // PostgreSQL silently truncates longer identifiers, and two domains could then share a schema.
  if (!SQL_IDENTIFIER.test(name) || name.length > MAX_IDENTIFIER_LENGTH) {
    throw new Error(`schema name "${name}" is not a valid PostgreSQL identifier`);
  }
  return name;
}

/** Throws unless `domain` is a lowercase name usable as a folder and (with `_`) a schema. */
export function assertDomainName(domain: string): void {
  if (!DOMAIN_NAME.test(domain)) {
    throw new Error(`invalid domain name "${domain}": use lowercase letters, digits and "-"`);
  }
}

/** Opens the domain's database on the configured backend (PostgreSQL when DATABASE_URL is set). */
export async function openDomainDatabase(
  options: OpenDomainDatabaseOptions,
): Promise<DomainDatabase> {
  const { config, domain } = options;
  assertDomainName(domain);
  const logger = options.logger.child({ domain });
  return config.DATABASE_URL
    ? openPostgres(config.DATABASE_URL, config, domain, logger)
    : openPglite(config.dataDir, domain, logger);
}

/** Builds a generated Prisma client on the domain's database. */
export function createPrismaClient<Client>(
  PrismaClient: new (options: { adapter: SqlDriverAdapterFactory }) => Client,
  db: Pick<DomainDatabase, 'adapterFactory'>,
): Client {
  return new PrismaClient({ adapter: db.adapterFactory });
}

// --- PostgreSQL -------------------------------------------------------------------------------

async function openPostgres(
  connectionString: string,
  config: OpenDomainDatabaseOptions['config'],
  domain: string,
  logger: Logger,
): Promise<DomainDatabase> {
  const schemaName = domainSchemaName(config.DATABASE_SCHEMA_PREFIX, domain);
  const poolConfig: pg.PoolConfig = {
    connectionString,
    max: config.DATABASE_POOL_SIZE,
    // Prisma Client qualifies every table with the adapter's schema, but migration scripts are
    // unqualified (as `prisma migrate` writes them): the search_path is what puts them, and
    // `_prisma_migrations`, in the domain's schema rather than in `public`.
    options: `-c search_path=${schemaName}`,
    // Names the domain in pg_stat_activity, for whoever is looking at the server.
    application_name: `lotabots ${schemaName}`,
  };
  const pool = new pg.Pool(poolConfig);
  pool.on('error', (error) => logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
  try {
    await ensureSchema(pool, schemaName);
  } catch (error) {
    await pool.end();
    throw error;
  }
  let closed = false;
  return {
    kind: 'postgresql',
    domain,
    schemaName,
    adapterFactory: new PrismaPg(pool, { schema: schemaName }),
    openMigrationConnection: () =>
      pgMigrationConnection(poolConfig, schemaName, (error) =>
        logger.warn({ err: error }, 'migration connection failed'),
      ),
    withMigrationLock: (fn) =>
      withAdvisoryLock(connectionString, `lotabots:migrate:${schemaName}`, logger, fn),
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

async function ensureSchema(pool: pg.Pool, schemaName: string): Promise<void> {
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schemaName}"`);
  } catch (error) {
    // Two replicas booting together can both pass the IF NOT EXISTS check; the loser gets a
    // unique violation on pg_namespace, which means the schema is there.
    const code = (error as { code?: unknown }).code;
    if (code !== '23505' && code !== '42P06') throw error;
  }
}

/** A signed 64-bit key for pg_advisory_lock, stable for a given name across processes. */
export function advisoryLockKey(name: string): bigint {
  return createHash('sha256').update(name).digest().readBigInt64BE(0);
}

/**
 * Holds a session-level advisory lock on a connection of its own for the duration of `fn`: pooled
 * connections could hand the lock to another query, and a dedicated one releases it by dying if
 * the process does.
 */
async function withAdvisoryLock<T>(
  connectionString: string,
  name: string,
  logger: Logger,
  fn: () => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString });
  client.on('error', (error) => logger.warn({ err: error }, 'migration lock connection failed'));
  await client.connect();
  const key = advisoryLockKey(name).toString();
  try {
    const tried = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1::bigint) AS locked',
      [key],
    );
    if (!tried.rows[0]?.locked) {
      logger.info({ lock: name }, 'waiting for another process to finish migrating');
      await client.query('SELECT pg_advisory_lock($1::bigint)', [key]);
    }
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
    }
  } finally {
    await client.end();
  }
}

// --- PGlite -----------------------------------------------------------------------------------

interface SharedPglite {
  pglite: Promise<PGlite>;
  handles: number;
}

/**
 * Two PGlite instances on one data directory corrupt it, so every handle on a domain in this
 * process shares one instance, closed with the last handle.
 */
const pglites = new Map<string, SharedPglite>();
const migrationQueues = new Map<string, Promise<unknown>>();

async function openPglite(
  dataDir: string,
  domain: string,
  logger: Logger,
): Promise<DomainDatabase> {
  const path = join(dataDir, 'pglite', domain);
  let shared = pglites.get(path);
  if (!shared) {
    mkdirSync(path, { recursive: true });
    const starting = PGlite.create(path);
    shared = { pglite: starting, handles: 0 };
    pglites.set(path, shared);
    starting.catch(() => pglites.delete(path));
  }
  shared.handles += 1;
  const entry = shared;
  let pglite: PGlite;
  try {
    pglite = await entry.pglite;
  } catch (error) {
    entry.handles -= 1;
    throw error;
  }
  logger.debug({ path }, 'opened PGlite database');
  let closed = false;
  return {
    kind: 'pglite',
    domain,
    schemaName: 'public',
    adapterFactory: new PrismaPGlite(pglite),
    openMigrationConnection: () => pgliteMigrationConnection(pglite),
    // One process owns an embedded database, so an in-process queue is the whole lock.
    withMigrationLock: (fn) => serialize(migrationQueues, path, fn),
    async close() {
      if (closed) return;
      closed = true;
      entry.handles -= 1;
      if (entry.handles > 0) return;
      pglites.delete(path);
      await pglite.close();
    },
  };
}

function serialize<T>(
  queues: Map<string, Promise<unknown>>,
  key: string,
  fn: () => Promise<T>,
): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const result = previous.then(fn, fn);
  const tail = result.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return result;
}
