import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A data dir whose PGlite databases are migrated; test files start from a copy of it. */
    pgliteTemplate: string | null;
  }
}

const root = new URL('../../', import.meta.url).pathname;

/**
 * Creating a PGlite data dir costs seconds (initdb in WebAssembly) and every suite boots the whole
 * supergraph, so the domains are created and migrated once, by the real `db migrate apply`
 * command, and each test file copies the result (tests/support/config.ts). Migrating from empty
 * stays covered by tests/db and by the start-command test.
 */
export default function setup(project: TestProject): () => void {
  if (process.env.DATABASE_URL) {
    project.provide('pgliteTemplate', null);
    return () => undefined;
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'lotabots-template-'));
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'bin/lotabots.ts', 'db', 'migrate', 'apply'],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        LOTABOTS_DATA_DIR: dataDir,
        LOG_LEVEL: 'warn',
      },
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) {
    throw new Error(
      `migrating the PGlite template failed (exit ${result.status}, signal ${result.signal}, ${String(result.error ?? '')}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  project.provide('pgliteTemplate', dataDir);
  return () => rmSync(dataDir, { recursive: true, force: true });
}
