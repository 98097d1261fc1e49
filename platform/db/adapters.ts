import { PGlite } from '@electric-sql/pglite';
import {
  DriverAdapterError,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';

/**
 * Driver adapter factories for the schema engine. Prisma Client gets the stock factories; the
 * engine gets these, which differ in how a migration script is run (see `withScript`) and in
 * where the shadow database lives (always an in-memory PGlite, so no CREATE DATABASE rights or
 * second server are needed).
 */

interface PgLikeError {
  code: string;
  severity: string;
  message: string;
  detail?: string;
  column?: string;
  hint?: string;
}

function isPgLikeError(error: unknown): error is PgLikeError {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as Record<string, unknown>;
  return (
    typeof e.code === 'string' && typeof e.message === 'string' && typeof e.severity === 'string'
  );
}

/** Maps a PostgreSQL error (from `pg` or PGlite) to the shape the engine reports to the user. */
export function toDriverAdapterError(error: unknown): unknown {
  if (!isPgLikeError(error)) return error;
  return new DriverAdapterError({
    kind: 'postgres',
    code: error.code,
    severity: error.severity,
    message: error.message,
    detail: error.detail,
    column: error.column,
    hint: error.hint,
  });
}

/** The adapter with `executeScript` replaced; everything else is delegated. */
function withScript(
  adapter: SqlDriverAdapter,
  run: (script: string) => Promise<unknown>,
  dispose: () => Promise<void> = () => adapter.dispose(),
): SqlDriverAdapter {
  return {
    provider: adapter.provider,
    adapterName: adapter.adapterName,
    queryRaw: (query) => adapter.queryRaw(query),
    executeRaw: (query) => adapter.executeRaw(query),
    startTransaction: (isolationLevel) => adapter.startTransaction(isolationLevel),
    getConnectionInfo: adapter.getConnectionInfo?.bind(adapter),
    dispose,
    async executeScript(script: string): Promise<void> {
      try {
        await run(script);
      } catch (error) {
        throw toDriverAdapterError(error);
      }
    },
  };
}

/**
 * pglite-prisma-adapter 0.7 starts `exec(script)` without awaiting it: a failing migration is
 * recorded as applied and its error escapes as an unhandled rejection. Awaiting it here makes the
 * engine see the failure (and mark the migration failed, as `prisma migrate deploy` would).
 */
async function pgliteAdapter(
  pglite: PGlite,
  dispose?: () => Promise<void>,
): Promise<SqlDriverAdapter> {
  const adapter = await new PrismaPGlite(pglite).connect();
  return withScript(adapter, (script) => pglite.exec(script), dispose);
}

/** A fresh in-memory PGlite for one shadow-database use; closed when the engine disposes it. */
async function freshShadowAdapter(): Promise<SqlDriverAdapter> {
  const shadow = new PGlite();
  await shadow.waitReady;
  return pgliteAdapter(shadow, () => shadow.close());
}

/** Engine-facing factory over a PGlite database this module does not own. */
export function pgliteMigrationConnection(pglite: PGlite): MigrationConnection {
  return {
    factory: {
      provider: 'postgres',
      adapterName: new PrismaPGlite(pglite).adapterName,
      connect: () => pgliteAdapter(pglite, () => Promise.resolve()),
      connectToShadowDb: freshShadowAdapter,
    },
    // PGlite is a single session: the engine's advisory lock is re-entrant there, and the
    // database stays open for the domain's other users.
    close: () => Promise.resolve(),
  };
}

/** A schema-engine factory together with the connection it owns. */
export interface MigrationConnection {
  factory: SqlMigrationAwareDriverAdapterFactory;
  /** Ends the connection; call after `engine.free()`. */
  close(): Promise<void>;
}

/**
 * Engine-facing factory over one dedicated PostgreSQL connection (`search_path` set to the
 * domain's schema by `poolConfig`). Dedicated because the engine takes
 * `pg_advisory_lock(72707369)` for migrate commands and never unlocks: the native engine lets its
 * connection's end release it, but on a shared pool the lock stays with whichever pooled connection
 * ran it, blocking every later migration until that connection happens to close.
 *
 * `executeScript` is replaced too: adapter-pg's splits the script on every `;` (breaking function
 * bodies and string literals) and sends the pieces separately; one simple-protocol query keeps the
 * script intact and atomic, as the native engine sends it.
 */
export function pgMigrationConnection(
  poolConfig: pg.PoolConfig,
  schema: string,
  onError: (error: Error) => void,
): MigrationConnection {
  const pool = new pg.Pool({
    ...poolConfig,
    max: 1,
    application_name: `lotabots migrate ${schema}`,
  });
  pool.on('error', onError);
  const stock = new PrismaPg(pool, { schema });
  let ended: Promise<void> | undefined;
  return {
    factory: {
      provider: 'postgres',
      adapterName: stock.adapterName,
      connect: async () => withScript(await stock.connect(), (script) => pool.query(script)),
      connectToShadowDb: freshShadowAdapter,
    },
    close: () => (ended ??= pool.end()),
  };
}

const RESET_SCRATCH = `
RESET ALL;
DO $$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END $$;
CREATE SCHEMA public;
`;

let scratch: Promise<PGlite> | undefined;
let scratchQueue: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` with a factory whose main and shadow connections are one in-memory PGlite kept for the
 * life of the process, emptied before each use. Starting PGlite costs seconds (it runs initdb);
 * calls are queued because the engine assumes the shadow database is its alone.
 */
export function withScratchDatabase<T>(
  fn: (factory: SqlMigrationAwareDriverAdapterFactory) => Promise<T>,
): Promise<T> {
  const run = async (): Promise<T> => {
    if (!scratch) {
      const starting = (async () => {
        const pglite = new PGlite();
        await pglite.waitReady;
        return pglite;
      })();
      starting.catch(() => {
        if (scratch === starting) scratch = undefined;
      });
      scratch = starting;
    }
    const pglite = await scratch;
    // The engine replays migrations into the shadow database without emptying it first, so the
    // previous user's tables (and any schemas or session settings its migrations made) go here.
    await pglite.exec(RESET_SCRATCH);
    const keepOpen = () => Promise.resolve();
    const factory: SqlMigrationAwareDriverAdapterFactory = {
      provider: 'postgres',
      adapterName: new PrismaPGlite(pglite).adapterName,
      connect: () => pgliteAdapter(pglite, keepOpen),
      connectToShadowDb: () => pgliteAdapter(pglite, keepOpen),
    };
    return fn(factory);
  };
  const result = scratchQueue.then(run, run);
  scratchQueue = result.catch(() => undefined);
  return result;
}

/** Closes the scratch database, if one was started (CLI exit, test teardown). */
export async function closeScratchDatabase(): Promise<void> {
  await scratchQueue;
  const pending = scratch;
  scratch = undefined;
  if (pending) await (await pending).close();
}
