import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../platform/logger.ts';
import { createObjectStore, type ObjectStore } from '../../platform/objects/index.ts';
import { backends, testConfig } from './config.ts';

/**
 * A real object store that cannot write, of the same kind as the suite's: a bucket that does not
 * exist on the S3 server, or a data dir whose objects folder is a plain file.
 */
export function brokenObjectStore(): ObjectStore {
  const dataDir = mkdtempSync(join(tmpdir(), 'lotabots-broken-objects-'));
  writeFileSync(join(dataDir, 'objects'), 'not a directory');
  const config = testConfig({
    LOTABOTS_DATA_DIR: dataDir,
    ...(backends.objects === 's3' ? { S3_BUCKET: `missing-${Date.now().toString(36)}` } : {}),
  });
  return createObjectStore(config, createLogger(config));
}
