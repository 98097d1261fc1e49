import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeScratchDatabase } from '../../platform/db/adapters.ts';
import { openDomainDatabase, type DomainDatabase } from '../../platform/db/database.ts';
import {
  applyPendingMigrations,
  checkDrift,
  createMigration,
  domainPaths,
} from '../../platform/db/migrate.ts';
import { backends, testConfig } from '../support/config.ts';
import { dropSchemas, SCHEMA_V2, tempPrismaDir, testLogger } from './fixture.ts';

const RACE = 'race';
const BROKEN = 'broken';

async function query(db: DomainDatabase, sql: string): Promise<unknown[][]> {
  const adapter = await db.adapterFactory.connect();
  try {
    return (await adapter.queryRaw({ sql, args: [], argTypes: [] })).rows;
  } finally {
    await adapter.dispose();
  }
}

describe(`migration lock and failures (${backends.database})`, () => {
  const config = testConfig();
  const logger = testLogger(config);
  const prisma = tempPrismaDir();
  const open: DomainDatabase[] = [];
  const openDb = async (domain: string) => {
    const db = await openDomainDatabase({ config, domain, logger });
    open.push(db);
    return db;
  };

  beforeAll(async () => {
    prisma.write(RACE, SCHEMA_V2);
    await createMigration({ domain: RACE, name: 'init', prismaDir: prisma.dir });
  });

  afterAll(async () => {
    for (const db of open) await db.close();
    await closeScratchDatabase();
    await dropSchemas(config, [RACE, BROKEN]);
    prisma.remove();
    rmSync(config.dataDir, { recursive: true, force: true });
  });

  // On PostgreSQL the two handles are separate pools, as two replicas would be, and only the
  // advisory lock keeps them apart; on PGlite they share the embedded database and the lock is the
  // in-process queue.
  it('applies each migration once when two handles migrate at the same time', async () => {
    const [a, b] = await Promise.all([openDb(RACE), openDb(RACE)]);
    const { migrationsDir } = domainPaths(RACE, prisma.dir);
    const results = await Promise.all(
      [a, b].map((db) => applyPendingMigrations({ db, migrationsDir, logger })),
    );
    const applied = results.flatMap((r) => r.applied);
    expect(applied).toHaveLength(1);
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 1]);

    const rows = await query(
      a,
      'SELECT migration_name FROM _prisma_migrations WHERE rolled_back_at IS NULL',
    );
    expect(rows).toEqual([[applied[0]]]);

    if (a.kind === 'postgresql') {
      // The engine's own pg_advisory_lock(72707369) is never unlocked; it must go away with the
      // engine's connection rather than linger in a pool and block the next migration.
      const locks = await query(
        a,
        `SELECT count(*)::int FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
         WHERE l.locktype = 'advisory' AND s.application_name LIKE '%${a.schemaName}'`,
      );
      expect(locks).toEqual([[0]]);
    }
  });

  it('waits while another handle holds the migration lock', async () => {
    const [a, b] = await Promise.all([openDb(RACE), openDb(RACE)]);
    const { migrationsDir } = domainPaths(RACE, prisma.dir);
    const events: string[] = [];
    let release!: () => void;
    const held = a.withMigrationLock(async () => {
      events.push('a locked');
      await new Promise<void>((resolve) => (release = resolve));
      events.push('a released');
    });
    while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const applying = applyPendingMigrations({ db: b, migrationsDir, logger }).then((result) => {
      events.push('b applied');
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events).toEqual(['a locked']);
    release();
    await held;
    expect((await applying).applied).toEqual([]);
    expect(events).toEqual(['a locked', 'a released', 'b applied']);
  });

  it('stops at a failing migration, rolls it back and reports it as failed', async () => {
    const { migrationsDir } = domainPaths(BROKEN, prisma.dir);
    const write = (name: string, sql: string) => {
      mkdirSync(join(migrationsDir, name), { recursive: true });
      writeFileSync(join(migrationsDir, name, 'migration.sql'), sql);
    };
    prisma.write(BROKEN, 'datasource db {\n  provider = "postgresql"\n}\n');
    write('20240101000000_good', 'CREATE TABLE "Good" ("id" INTEGER PRIMARY KEY);\n');
    // A semicolon inside a string literal: the script must reach the database whole.
    write(
      '20240102000000_bad',
      `CREATE TABLE "Half" ("note" TEXT DEFAULT 'a;b');\nSELECT * FROM "NoSuchTable";\n`,
    );
    const db = await openDb(BROKEN);

    await expect(applyPendingMigrations({ db, migrationsDir, logger })).rejects.toThrow(
      /NoSuchTable/,
    );

    const tables = await query(
      db,
      `SELECT table_name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_name IN ('Good', 'Half')`,
    );
    expect(tables).toEqual([['Good']]);
    const history = await query(
      db,
      'SELECT migration_name, finished_at IS NOT NULL FROM _prisma_migrations ORDER BY 1',
    );
    expect(history).toEqual([
      ['20240101000000_good', true],
      ['20240102000000_bad', false],
    ]);

    const report = await checkDrift({ domain: BROKEN, prismaDir: prisma.dir, db });
    expect(report.schemaError).toMatch(/20240102000000_bad/);
    expect(report.database?.failed).toEqual(['20240102000000_bad']);
    expect(report.ok).toBe(false);

    // Like `prisma migrate deploy`, a failed migration blocks further applies until resolved.
    await expect(applyPendingMigrations({ db, migrationsDir, logger })).rejects.toThrow(/failed/i);
  });
});
