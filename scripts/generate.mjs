// Regenerates everything under generated/ (gitignored): one Prisma client per domain, the typed
// resolvers and dashboard operations from codegen.ts, and the dashboard build. Runs on `npm install`
// and in CI, so nothing generated is committed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = (name) => join(root, 'node_modules', '.bin', name);

function run(cmd, args, env = {}) {
  const result = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  if (result.status !== 0) {
    console.error(`generate: ${cmd} ${args.join(' ')} failed with exit code ${result.status}`);
    process.exit(result.status ?? 1);
  }
}

if (!existsSync(bin('prisma'))) {
  // `npm install --omit=dev` in an image that already carries generated/ has nothing to do.
  process.exit(0);
}

// `prisma generate` only needs a path to *some* schema-engine binary to start; generation itself is
// pure WebAssembly. Pointing it at an existing file keeps it from downloading one (offline machines).
const engineStub = process.execPath;
for (const domain of readdirSync(join(root, 'prisma'))) {
  const schema = join(root, 'prisma', domain, 'schema.prisma');
  if (!existsSync(schema)) continue;
  run(bin('prisma'), ['generate', '--schema', schema], {
    PRISMA_SCHEMA_ENGINE_BINARY: engineStub,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
  });
}

if (existsSync(join(root, 'codegen.ts')) && existsSync(bin('graphql-codegen'))) {
  run(bin('graphql-codegen'), ['--config', 'codegen.ts']);
}

// The dashboard page the gateway serves at /dashboard/ (after codegen: it imports the typed
// operations). Built here so `npm install && npm start` serves it with nothing else to run.
if (existsSync(bin('vite'))) {
  run(bin('vite'), ['build', 'gateway/dashboard', '--logLevel', 'warn']);
}
