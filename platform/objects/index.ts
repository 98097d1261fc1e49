import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { FilesystemObjectStore } from './filesystem.ts';
import { S3ObjectStore } from './s3.ts';
import type { ObjectStore, ObjectStoreOptions } from './types.ts';

export * from './types.ts';
export {
  validateObjectKey,
  MAX_KEY_BYTES,
  MAX_OBJECT_BYTES,
  MAX_SIGNED_URL_TTL_SECONDS,
} from './keys.ts';
export { FilesystemObjectStore } from './filesystem.ts';
export { S3ObjectStore, S3_MEMORY_SPOOL_BYTES } from './s3.ts';
export { createObjectHttpHandler, type ObjectHttpHandler } from './http.ts';

/**
 * The object store the configuration asks for: S3 when `S3_BUCKET` is set, else files under the
 * data dir. Creates nothing remotely; call `ensureBucket()` where creating the bucket is wanted.
 */
export function createObjectStore(
  config: Config,
  logger: Logger,
  options: ObjectStoreOptions = {},
): ObjectStore {
  const log = logger.child({ component: 'objects' });
  if (config.S3_BUCKET) {
    log.debug({ bucket: config.S3_BUCKET, endpoint: config.S3_ENDPOINT }, 'object store: S3');
    return new S3ObjectStore(config, log, options);
  }
  log.debug({ root: config.dataDir }, 'object store: filesystem');
  return new FilesystemObjectStore(config, log, options);
}
