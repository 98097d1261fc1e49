import { afterAll, describe, expect, it } from 'vitest';
import { closeScratchDatabase, withScratchDatabase } from '../../platform/db/adapters.ts';
import {
  checkEngineVersion,
  expectedEnginesVersion,
  NO_FILTER,
  openSchemaEngine,
  schemaEnginePackageVersion,
  schemaEngineVersion,
} from '../../platform/db/engine.ts';
import { SCHEMA_V1 } from './fixture.ts';

describe('schema engine (WebAssembly)', () => {
  afterAll(async () => {
    await closeScratchDatabase();
  });

  it('is the build the installed Prisma release expects', async () => {
    const expected = expectedEnginesVersion();
    expect(await schemaEngineVersion()).toBe(expected.hash);
    // The package is pinned exactly in package.json; a Prisma upgrade must move both together.
    expect(schemaEnginePackageVersion()).toBe(expected.packageVersion);
    expect(expected.packageVersion).toMatch(/^7\.10\.0-/);
    expect((await checkEngineVersion()).ok).toBe(true);
  });

  it('diffs an empty database to a schema on PGlite', async () => {
    const result = await withScratchDatabase(async (adapterFactory) => {
      const engine = await openSchemaEngine({
        adapterFactory,
        schemaPath: 'schema.prisma',
        schemaText: SCHEMA_V1,
      });
      try {
        return await engine.diff({
          from: { tag: 'empty' },
          to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: SCHEMA_V1 }] },
          script: true,
          exitCode: true,
          filters: NO_FILTER,
        });
      } finally {
        engine.free();
      }
    });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toContain('CREATE TABLE "Widget"');
  });

  it('reports schema errors with their location', async () => {
    const result = withScratchDatabase(async (adapterFactory) => {
      const engine = await openSchemaEngine({ adapterFactory });
      try {
        return await engine.diff({
          from: { tag: 'empty' },
          to: {
            tag: 'schemaDatamodel',
            files: [{ path: 'broken.prisma', content: 'model {' }],
          },
          script: true,
          exitCode: true,
          filters: NO_FILTER,
        });
      } finally {
        engine.free();
      }
    });
    await expect(result).rejects.toThrow(/broken\.prisma/);
  });
});
