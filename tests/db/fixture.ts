import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import type { Config } from '../../platform/config.ts';
import { domainSchemaName } from '../../platform/db/database.ts';

/** Schemas for a throwaway domain, independent of any real domain's models. */
export const SCHEMA_V1 = `datasource db {
  provider = "postgresql"
}

model Widget {
  id        Int      @id @default(autoincrement())
  name      String   @unique
  createdAt DateTime @default(now())
}
`;

export const SCHEMA_V2 = `datasource db {
  provider = "postgresql"
}

enum Color {
  RED
  BLUE
}

model Widget {
  id        Int      @id @default(autoincrement())
  name      String   @unique
  color     Color?
  createdAt DateTime @default(now())
  parts     Part[]
}

model Part {
  id       String @id @default(uuid())
  label    String
  widgetId Int
  widget   Widget @relation(fields: [widgetId], references: [id], onDelete: Cascade)

  @@index([widgetId])
}
`;

/** A temporary `prisma/` folder; `write(domain, schema)` puts a schema.prisma in it. */
export function tempPrismaDir(): {
  dir: string;
  write(domain: string, schema: string): string;
  remove(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'lotabots-prisma-'));
  return {
    dir,
    write(domain, schema) {
      mkdirSync(join(dir, domain), { recursive: true });
      const path = join(dir, domain, 'schema.prisma');
      writeFileSync(path, schema);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Logs stay quiet unless TEST_LOG_LEVEL asks for them. */
export function testLogger(config: Pick<Config, 'LOG_LEVEL'>) {
  return pino({ level: config.LOG_LEVEL });
}

/** Drops the PostgreSQL schemas a test created for `domains`; nothing to do on PGlite. */
export async function dropSchemas(config: Config, domains: string[]): Promise<void> {
  if (!config.DATABASE_URL) return;
  const client = new pg.Client({ connectionString: config.DATABASE_URL });
  await client.connect();
  try {
    for (const domain of domains) {
      const schema = domainSchemaName(config.DATABASE_SCHEMA_PREFIX, domain);
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  } finally {
    await client.end();
  }
}
