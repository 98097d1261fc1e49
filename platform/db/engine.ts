import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type * as SchemaEngineBg from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { Logger } from '../logger.ts';

/**
 * Prisma's schema engine (migrations, diffs, drift checks) as WebAssembly, driven through a driver
 * adapter, so no native binary has to be downloaded. See ARCHITECTURE.md, "Migrations without a
 * native engine".
 */

export type { SchemaEngine };
export type {
  ApplyMigrationsOutput,
  DiagnoseMigrationHistoryOutput,
  DiffResult,
  MigrationDirectory,
  MigrationList,
  SchemaFilter,
} from '@prisma/schema-engine-wasm/schema_engine_bg';

type BgModule = typeof SchemaEngineBg;

interface WasmExports {
  __wbindgen_start(): void;
}

// The project compiles without the DOM lib, and @types/node declares WebAssembly's types but not
// the global's value; this is the slice used here.
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ exports: Record<string, unknown> }>;
  RuntimeError: new (message?: string) => Error;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface PanicRegistry {
  set_message(message: string): void;
}

const BG_SPECIFIER = '@prisma/schema-engine-wasm/schema_engine_bg';
const require = createRequire(import.meta.url);

let compiled: Promise<object> | undefined;
let instantiated: Promise<BgModule> | undefined;
let lastPanic: string | undefined;

/** Entities no operation should touch; the project has none managed outside Prisma. */
export const NO_FILTER = { externalTables: [], externalEnums: [] };

function wasmPath(): string {
  // The entry (`schema_engine.js`) does `import * as wasm from './schema_engine_bg.wasm'`, which
  // Node 20 refuses, so the binary is located next to the glue module and loaded by hand.
  return fileURLToPath(new URL('schema_engine_bg.wasm', import.meta.resolve(BG_SPECIFIER)));
}

/** Compiles the engine once per process; every instantiation after that reuses the module. */
function compileEngine(): Promise<object> {
  compiled ??= readFile(wasmPath()).then((bytes) => wasmApi.compile(bytes));
  return compiled;
}

/**
 * The wasm-bindgen glue keeps the instance in module state, so one instance serves every engine in
 * the process; a panic poisons it (see `openSchemaEngine`), and the next call builds a fresh one.
 */
function loadEngine(): Promise<BgModule> {
  instantiated ??= (async () => {
    // Prisma Client installs its own registry; only fill the gap when running without one, so a
    // Rust panic surfaces as its message instead of a TypeError from inside the panic hook.
    const registry = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: PanicRegistry };
    registry.PRISMA_WASM_PANIC_REGISTRY ??= {
      set_message(message: string) {
        lastPanic = message;
      },
    };
    const bg = (await import(BG_SPECIFIER)) as BgModule;
    const instance = await wasmApi.instantiate(await compileEngine(), {
      './schema_engine_bg.js': bg,
    });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports as unknown as WasmExports).__wbindgen_start();
    return bg;
  })();
  instantiated.catch(() => {
    instantiated = undefined;
  });
  return instantiated;
}

/** The git hash the loaded schema engine was built from (`version()` of the wasm module). */
export async function schemaEngineVersion(): Promise<string> {
  return (await loadEngine()).version();
}

/** The package version of `@prisma/schema-engine-wasm` as installed. */
export function schemaEnginePackageVersion(): string {
  // The package's `exports` map hides package.json; it sits next to the glue module.
  const file = fileURLToPath(new URL('package.json', import.meta.resolve(BG_SPECIFIER)));
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * The engines release the installed `prisma` CLI and client were built against, read through
 * prisma's own dependency chain so a stray hoisted copy cannot answer for it.
 */
export function expectedEnginesVersion(): { hash: string; packageVersion: string } {
  const prismaPkg = require.resolve('prisma/package.json');
  const enginesPkg = createRequire(prismaPkg).resolve('@prisma/engines/package.json');
  const versionPkg = createRequire(enginesPkg).resolve('@prisma/engines-version/package.json');
  const pkg = JSON.parse(readFileSync(versionPkg, 'utf8')) as {
    version: string;
    prisma: { enginesVersion: string };
  };
  return { hash: pkg.prisma.enginesVersion, packageVersion: pkg.version };
}

/** Whether the wasm engine is the exact build the installed Prisma release expects. */
export async function checkEngineVersion(): Promise<{
  ok: boolean;
  engine: string;
  enginePackage: string;
  expected: string;
  expectedPackage: string;
}> {
  const engine = await schemaEngineVersion();
  const enginePackage = schemaEnginePackageVersion();
  const { hash: expected, packageVersion: expectedPackage } = expectedEnginesVersion();
  return {
    ok: engine === expected && enginePackage === expectedPackage,
    engine,
    enginePackage,
    expected,
    expectedPackage,
  };
}

export interface OpenSchemaEngineOptions {
  /** Absolute path of the schema file; used in error messages and to read `namespaces`. */
  schemaPath?: string;
  /** The schema's text. Without it the engine still migrates and diffs, it just knows no namespaces. */
  schemaText?: string;
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  logger?: Logger;
}

/** A schema engine connected through `adapterFactory`; call `free()` when done. */
export async function openSchemaEngine(options: OpenSchemaEngineOptions): Promise<SchemaEngine> {
  const bg = await loadEngine();
  const { logger } = options;
  const datamodels: [string, string][] | undefined =
    options.schemaText === undefined
      ? undefined
      : [[options.schemaPath ?? 'schema.prisma', options.schemaText]];
  const onLog = (line: string): void => {
    if (!logger?.isLevelEnabled('trace')) return;
    logger.trace({ engine: parseEngineLog(line) }, 'schema engine');
  };
  try {
    // A raw factory fails inside the engine: it expects the error-capturing wrapper's
    // `{ ok, value | error }` results.
    return await bg.SchemaEngine.new(
      { datamodels },
      onLog,
      bindMigrationAwareSqlAdapterFactory(options.adapterFactory),
    );
  } catch (error) {
    throw engineError(error);
  }
}

/** Runs `fn` on the engine, turning panics into errors that say so and retiring the instance. */
export async function callEngine<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw engineError(error);
  }
}

function engineError(error: unknown): Error {
  if (error instanceof wasmApi.RuntimeError) {
    // After a panic no call into the instance is safe; drop it so the next engine starts clean.
    instantiated = undefined;
    const message = lastPanic ?? error.message;
    lastPanic = undefined;
    return new Error(`schema engine panicked: ${message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

function parseEngineLog(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}
