import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { closeScratchDatabase } from './adapters.ts';
import { openDomainDatabase } from './database.ts';
import {
  applyPendingMigrations,
  checkDrift,
  createMigration,
  DEFAULT_PRISMA_DIR,
  domainPaths,
  listDomains,
  type DriftReport,
} from './migrate.ts';

const USAGE = `usage: lotabots db <command>

  migrate create <domain> --name <name>   write a migration from the schema.prisma diff
  migrate apply [domain]                  apply pending migrations (all domains when omitted)
  migrate status [domain]                 report schema drift and pending migrations

Migrations live in prisma/<domain>/migrations. The database is PGlite under the data dir, or
PostgreSQL (one schema per domain) when DATABASE_URL is set.`;

export interface DbCommandOptions {
  /** Folder holding `<domain>/schema.prisma`; defaults to the repository's `prisma/`. */
  prismaDir?: string;
  /** Where progress lines go; defaults to stdout. */
  print?: (line: string) => void;
  /**
   * Keep the in-memory shadow database for the next call instead of closing it on return; it takes
   * seconds to start, which adds up when one process runs many commands (tests).
   */
  keepShadowDatabase?: boolean;
}

/** Runs `db …` (arguments after `db`) and returns the process exit code. */
export async function runDbCommand(
  args: string[],
  config: Config,
  logger: Logger,
  options: DbCommandOptions = {},
): Promise<number> {
  const print = options.print ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const prismaDir = options.prismaDir ?? DEFAULT_PRISMA_DIR;
  const argv = args[0] === 'db' ? args.slice(1) : args;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    print(`error: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { positionals, name, help } = parsed;
  const [group, command, domainArg, ...extra] = positionals;
  if (help || group === undefined || group === 'help') {
    print(USAGE);
    return help || group !== undefined ? 0 : 2;
  }
  if (group !== 'migrate' || extra.length > 0) {
    print(`error: unknown command "${argv.join(' ')}"\n\n${USAGE}`);
    return 2;
  }

  try {
    switch (command) {
      case 'create':
        if (domainArg === undefined || name === undefined) {
          print(`error: migrate create needs a domain and --name\n\n${USAGE}`);
          return 2;
        }
        return await create(domainArg, name, prismaDir, logger, print);
      case 'apply':
        return await apply(await domains(domainArg, prismaDir), prismaDir, config, logger, print);
      case 'status':
        return await status(await domains(domainArg, prismaDir), prismaDir, config, logger, print);
      default:
        print(`error: unknown migrate command "${command ?? ''}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    print(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    if (!options.keepShadowDatabase) await closeScratchDatabase();
  }
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string', short: 'n' }, help: { type: 'boolean', short: 'h' } },
  });
  return { positionals, name: values.name, help: values.help === true };
}

async function domains(domain: string | undefined, prismaDir: string): Promise<string[]> {
  const all = await listDomains(prismaDir);
  if (domain === undefined) {
    if (all.length === 0) throw new Error(`no prisma/<domain>/schema.prisma under ${prismaDir}`);
    return all;
  }
  if (!all.includes(domain)) {
    throw new Error(`unknown domain "${domain}" (no ${domainPaths(domain, prismaDir).schemaPath})`);
  }
  return [domain];
}

async function create(
  domain: string,
  name: string,
  prismaDir: string,
  logger: Logger,
  print: (line: string) => void,
): Promise<number> {
  print(`${domain}: diffing migrations against schema.prisma (shadow database: PGlite)…`);
  const result = await createMigration({ domain, name, prismaDir, logger });
  if (!result.created) {
    print(`${domain}: no changes, schema.prisma matches the migrations; nothing written`);
    return 0;
  }
  print(`${domain}: created ${result.directory}/migration.sql`);
  return 0;
}

async function apply(
  domains: string[],
  prismaDir: string,
  config: Config,
  logger: Logger,
  print: (line: string) => void,
): Promise<number> {
  for (const domain of domains) {
    const db = await openDomainDatabase({ config, domain, logger });
    try {
      print(`${domain}: applying migrations to ${describe(db)}…`);
      const { migrationsDir } = domainPaths(domain, prismaDir);
      const result = await applyPendingMigrations({ db, domain, migrationsDir, logger });
      for (const migration of result.applied) print(`${domain}:   applied ${migration}`);
      print(
        result.applied.length === 0
          ? `${domain}: up to date`
          : `${domain}: applied ${result.applied.length} migration(s) in ${result.durationMs} ms`,
      );
    } finally {
      await db.close();
    }
  }
  return 0;
}

async function status(
  domains: string[],
  prismaDir: string,
  config: Config,
  logger: Logger,
  print: (line: string) => void,
): Promise<number> {
  let ok = true;
  for (const domain of domains) {
    const db = await openDomainDatabase({ config, domain, logger });
    try {
      const report = await checkDrift({ domain, prismaDir, db, logger });
      for (const line of statusLines(report, describe(db))) print(line);
      ok &&= report.ok;
    } finally {
      await db.close();
    }
  }
  return ok ? 0 : 1;
}

function describe(db: { kind: string; schemaName: string }): string {
  return db.kind === 'postgresql' ? `PostgreSQL schema "${db.schemaName}"` : 'PGlite';
}

/** Human-readable lines for one domain's drift report. */
export function statusLines(report: DriftReport, where: string): string[] {
  const { domain } = report;
  const lines: string[] = [];
  if (report.schemaError !== undefined) {
    lines.push(
      `${domain}: ERROR: could not compare schema.prisma with the migrations:`,
      ...report.schemaError
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`),
    );
  } else if (report.schemaDrift) {
    lines.push(
      `${domain}: DRIFT: schema.prisma differs from the migrations; run \`db migrate create ${domain} --name <name>\`. It would contain:`,
      ...(report.driftScript ?? '')
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`),
    );
  } else {
    lines.push(`${domain}: schema.prisma matches the migrations`);
  }
  const database = report.database;
  if (database) {
    const list = (label: string, names: string[]) => {
      if (names.length > 0) lines.push(`${domain}: ${label} (${where}): ${names.join(', ')}`);
    };
    list('pending', database.pending);
    list('applied but not in the folder', database.unknown);
    list('failed', database.failed);
    list('edited after being applied', database.edited);
    const clean =
      database.pending.length +
        database.unknown.length +
        database.failed.length +
        database.edited.length ===
      0;
    if (clean) lines.push(`${domain}: database up to date (${where})`);
  }
  return lines;
}
