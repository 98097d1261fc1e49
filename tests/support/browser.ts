import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Debian's `chromium` package (no browser download: playwright-core drives the system browser).
 * CHROMIUM_PATH points elsewhere, e.g. on a machine that has Chrome instead.
 */
export function chromiumPath(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((path): path is string => Boolean(path && existsSync(path))) ?? null;
}

/**
 * Whether browser suites may skip: only outside CI. .ci/run installs chromium, so there a missing
 * browser fails the run instead of passing it silently.
 */
export const browserRequired = Boolean(process.env.CI);

/** Where browser suites save screenshots (gitignored; CI keeps them with the logs). */
export function artifactPath(name: string): string {
  const dir = resolve(process.env.TEST_ARTIFACTS_DIR ?? 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  return resolve(dir, name);
}
