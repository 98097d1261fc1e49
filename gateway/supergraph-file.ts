import type { SupergraphManager } from '@apollo/gateway';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../platform/logger.ts';

/**
 * @apollo/gateway refuses supergraphs that link a `for: SECURITY` feature it does not implement
 * (authenticated, requiresScopes, policy), so that nobody serves a schema whose access rules
 * would be silently ignored. LotaBots implements them in its access layer (gateway/access/), so
 * the purpose is dropped from exactly those links before the schema reaches @apollo/gateway; the
 * access layer reads the untouched file.
 */
export function declareAuthFeaturesHandled(sdl: string): string {
  return sdl.replace(
    /(@link\(url: "https:\/\/specs\.apollo\.dev\/(?:authenticated|requiresScopes|policy)\/v[\d.]+"), for: SECURITY\)/g,
    '$1)',
  );
}

/** Wraps another supergraph source (introspection, Uplink) so its schemas pass @apollo/gateway too. */
export function handlingAuthFeatures(inner: SupergraphManager): SupergraphManager {
  return {
    async initialize(options) {
      const result = await inner.initialize({
        ...options,
        update: (sdl) => options.update(declareAuthFeaturesHandled(sdl)),
      });
      return { ...result, supergraphSdl: declareAuthFeaturesHandled(result.supergraphSdl) };
    },
  };
}

/**
 * Serves the committed supergraph file to @apollo/gateway and, when watching, hands it a new
 * schema whenever the file changes. The gateway swaps schemas atomically: requests in flight
 * finish on the old one. A file that does not compose is logged and ignored (the old schema
 * stays), so a bad deploy of the file cannot take the gateway down.
 */
export function watchSupergraphFile(
  path: string,
  watchForChanges: boolean,
  logger: Logger,
): { manager: SupergraphManager; current: () => string; close: () => void } {
  let current = readFileSync(path, 'utf8');
  let watcher: FSWatcher | null = null;
  let debounce: NodeJS.Timeout | undefined;
  const manager: SupergraphManager = {
    initialize({ update }) {
      if (watchForChanges) {
        watcher = watch(path, () => {
          clearTimeout(debounce);
          // Editors write files in several steps; read once they are done.
          debounce = setTimeout(() => {
            let next: string;
            try {
              next = readFileSync(path, 'utf8');
            } catch (error) {
              logger.warn(
                { err: error, path },
                'supergraph file unreadable; keeping the current schema',
              );
              return;
            }
            if (next === current) return;
            try {
              update(declareAuthFeaturesHandled(next));
              current = next;
              logger.info({ path }, 'supergraph reloaded');
            } catch (error) {
              logger.error(
                { err: error, path },
                'new supergraph rejected; keeping the current schema',
              );
            }
          }, 200);
        });
        watcher.unref();
      }
      return Promise.resolve({
        supergraphSdl: declareAuthFeaturesHandled(current),
        cleanup: () => {
          watcher?.close();
          return Promise.resolve();
        },
      });
    },
  };
  return {
    manager,
    current: () => current,
    close: () => {
      clearTimeout(debounce);
      watcher?.close();
    },
  };
}
