import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeScratchDatabase } from '../../platform/db/adapters.ts';
import { runDbCommand } from '../../platform/db/cli.ts';
import {
  createPrismaClient,
  openDomainDatabase,
  type DomainDatabase,
} from '../../platform/db/database.ts';
import {
  applyPendingMigrations,
  checkDrift,
  createMigration,
  domainPaths,
} from '../../platform/db/migrate.ts';
import { backends, testConfig } from '../support/config.ts';
import { dropSchemas, SCHEMA_V1, SCHEMA_V2, tempPrismaDir, testLogger } from './fixture.ts';

// A domain name with a dash, to exercise the `-` → `_` schema naming.
const DOMAIN = 'db-fixture';

describe(`migrations (${backends.database})`, () => {
  const config = testConfig();
  const logger = testLogger(config);
  const prisma = tempPrismaDir();
  const { migrationsDir } = domainPaths(DOMAIN, prisma.dir);
  let db: DomainDatabase;
  const printed: string[] = [];
  const cli = (...args: string[]) =>
    runDbCommand(args, config, logger, {
      prismaDir: prisma.dir,
      print: (line) => printed.push(line),
      keepShadowDatabase: true,
    });

  beforeAll(async () => {
    prisma.write(DOMAIN, SCHEMA_V1);
    db = await openDomainDatabase({ config, domain: DOMAIN, logger });
  });

  afterAll(async () => {
    await db?.close();
    await closeScratchDatabase();
    await dropSchemas(config, [DOMAIN]);
    prisma.remove();
    for (const cleanup of cleanups) cleanup();
    rmSync(config.dataDir, { recursive: true, force: true });
  });

  it('names the schema after the prefix and domain', () => {
    if (db.kind === 'postgresql') {
      expect(db.schemaName).toBe(`${config.DATABASE_SCHEMA_PREFIX}db_fixture`);
    } else {
      expect(db.schemaName).toBe('public');
      expect(existsSync(join(config.dataDir, 'pglite', DOMAIN))).toBe(true);
    }
  });

  it('creates the first migration from an empty folder', async () => {
    const result = await createMigration({
      domain: DOMAIN,
      name: 'Create widgets',
      prismaDir: prisma.dir,
    });
    expect(result.created).toBe(true);
    if (!result.created) return;
    expect(result.migrationName).toMatch(/^\d{14}_create_widgets$/);
    const sql = readFileSync(join(result.directory, 'migration.sql'), 'utf8');
    expect(sql).toContain('CREATE TABLE "Widget"');
    expect(sql).toContain('CREATE UNIQUE INDEX "Widget_name_key"');
    expect(readFileSync(join(migrationsDir, 'migration_lock.toml'), 'utf8')).toContain(
      'provider = "postgresql"',
    );
  });

  it('reports "no changes" when the schema already matches', async () => {
    expect(
      await createMigration({ domain: DOMAIN, name: 'nothing', prismaDir: prisma.dir }),
    ).toEqual({
      created: false,
      domain: DOMAIN,
    });
    printed.length = 0;
    expect(await cli('migrate', 'create', DOMAIN, '--name', 'nothing')).toBe(0);
    expect(printed.join('\n')).toMatch(/no changes/);
    expect(readdirSync(migrationsDir).filter((n) => n !== 'migration_lock.toml')).toHaveLength(1);
  });

  it('reports pending migrations before applying', async () => {
    const report = await checkDrift({ domain: DOMAIN, prismaDir: prisma.dir, db });
    expect(report.schemaDrift).toBe(false);
    expect(report.database?.pending).toHaveLength(1);
    expect(report.ok).toBe(false);
  });

  it('applies pending migrations, then applies nothing the second time', async () => {
    const first = await applyPendingMigrations({ db, domain: DOMAIN, migrationsDir, logger });
    expect(first.applied).toHaveLength(1);
    expect(first.applied[0]).toMatch(/_create_widgets$/);

    const second = await applyPendingMigrations({ db, domain: DOMAIN, migrationsDir, logger });
    expect(second.applied).toEqual([]);

    const report = await checkDrift({ domain: DOMAIN, prismaDir: prisma.dir, db });
    expect(report).toMatchObject({ schemaDrift: false, ok: true });
    expect(report.database).toMatchObject({ pending: [], failed: [], edited: [], unknown: [] });
  });

  it('records migrations in _prisma_migrations, as prisma migrate deploy does', async () => {
    const rows = await rawQuery(
      db,
      'SELECT migration_name, checksum, finished_at FROM _prisma_migrations',
    );
    expect(rows).toHaveLength(1);
    const [name, checksum, finishedAt] = rows[0] ?? [];
    expect(name).toMatch(/_create_widgets$/);
    expect(checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(finishedAt).not.toBeNull();
  });

  it('detects drift when schema.prisma changes', async () => {
    prisma.write(DOMAIN, SCHEMA_V2);
    const report = await checkDrift({ domain: DOMAIN, prismaDir: prisma.dir, db });
    expect(report.schemaDrift).toBe(true);
    expect(report.driftScript).toContain('CREATE TABLE "Part"');
    expect(report.ok).toBe(false);

    printed.length = 0;
    expect(await cli('migrate', 'status', DOMAIN)).toBe(1);
    expect(printed.join('\n')).toMatch(/DRIFT/);
  });

  it('creates and applies a second migration', async () => {
    const result = await createMigration({ domain: DOMAIN, name: 'parts', prismaDir: prisma.dir });
    expect(result.created).toBe(true);
    if (!result.created) return;
    expect(result.script).toContain('CREATE TYPE "Color"');
    expect(result.script).toContain('ALTER TABLE "Widget" ADD COLUMN');

    // Sorts after the first even when created within the same second.
    const names = readdirSync(migrationsDir)
      .filter((n) => n !== 'migration_lock.toml')
      .sort();
    expect(names).toHaveLength(2);
    expect(names[1]).toBe(result.migrationName);

    printed.length = 0;
    expect(await cli('migrate', 'apply', DOMAIN)).toBe(0);
    expect(printed.join('\n')).toContain(`applied ${result.migrationName}`);

    printed.length = 0;
    expect(await cli('migrate', 'status')).toBe(0);
    expect(printed.join('\n')).toMatch(/matches the migrations[\s\S]*database up to date/);
  });

  it('puts the tables in the domain schema', async () => {
    const rows = await rawQuery(
      db,
      `SELECT table_schema, table_name FROM information_schema.tables
       WHERE table_name IN ('Widget', 'Part', '_prisma_migrations')
         AND table_schema IN ('public', '${db.schemaName}')
       ORDER BY table_name`,
    );
    expect(rows).toEqual([
      [db.schemaName, 'Part'],
      [db.schemaName, 'Widget'],
      [db.schemaName, '_prisma_migrations'],
    ]);
  });

  it('serves queries through a generated Prisma client on the migrated database', async () => {
    const { PrismaClient } = await generateClient(SCHEMA_V2);
    const client = createPrismaClient(PrismaClient, db);
    try {
      const widget = await client.widget.create({
        data: { name: 'gizmo', color: 'BLUE', parts: { create: [{ label: 'a' }, { label: 'b' }] } },
        include: { parts: true },
      });
      expect(widget.parts).toHaveLength(2);
      const found = await client.widget.findMany({
        where: { color: 'BLUE' },
        include: { parts: true },
      });
      expect(found.map((w) => [w.name, w.parts.length])).toEqual([['gizmo', 2]]);
      await expect(client.widget.create({ data: { name: 'gizmo' } })).rejects.toThrow(
        /Unique constraint/,
      );
      expect(await client.part.count()).toBe(2);
    } finally {
      await client.$disconnect();
    }
  }, 120_000);

  it('rejects bad command lines with usage', async () => {
    printed.length = 0;
    expect(await cli('migrate', 'create', DOMAIN)).toBe(2);
    expect(await cli('migrate', 'apply', 'no-such-domain')).toBe(1);
    expect(await cli('frobnicate')).toBe(2);
    expect(printed.join('\n')).toContain('usage: lotabots db');
  });
});

interface FixtureClient {
  widget: {
    create(args: object): Promise<{ id: number; name: string; parts: { label: string }[] }>;
    findMany(args: object): Promise<{ name: string; parts: unknown[] }[]>;
  };
  part: { count(): Promise<number> };
  $disconnect(): Promise<void>;
}

/**
 * Generates a client for `schema` the way scripts/generate.mjs does (the native engine binary is
 * never run, so any existing file stands in for it) into a temporary folder whose node_modules
 * points at the project's, then imports it.
 */
async function generateClient(
  schema: string,
): Promise<{ PrismaClient: new (options: { adapter: SqlDriverAdapterFactory }) => FixtureClient }> {
  const dir = mkdtempSync(join(tmpdir(), 'lotabots-client-'));
  symlinkSync(NODE_MODULES, join(dir, 'node_modules'), 'dir');
  const generator =
    'generator client {\n  provider     = "prisma-client"\n  output       = "./client"\n' +
    '  moduleFormat = "esm"\n  runtime      = "nodejs"\n}\n\n';
  writeFileSync(join(dir, 'schema.prisma'), generator + schema);
  const result = spawnSync(
    join(NODE_MODULES, '.bin', 'prisma'),
    ['generate', '--schema', join(dir, 'schema.prisma')],
    {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...process.env,
        PRISMA_SCHEMA_ENGINE_BINARY: process.execPath,
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
        CHECKPOINT_DISABLE: '1',
      },
    },
  );
  if (result.status !== 0)
    throw new Error(`prisma generate failed:\n${result.stdout}${result.stderr}`);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return (await import(join(dir, 'client', 'client.ts'))) as {
    PrismaClient: new (options: { adapter: SqlDriverAdapterFactory }) => FixtureClient;
  };
}

const NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));
const cleanups: (() => void)[] = [];

/** Runs SQL through the adapter Prisma Client uses, returning rows. */
async function rawQuery(db: DomainDatabase, sql: string): Promise<unknown[][]> {
  const adapter = await db.adapterFactory.connect();
  try {
    const result = await adapter.queryRaw({ sql, args: [], argTypes: [] });
    return result.rows;
  } finally {
    await adapter.dispose();
  }
}
