import type { Config } from '../../../platform/config.ts';
import type { CounterStore } from '../../../platform/counters/index.ts';
import type { EventBus } from '../../../platform/events/index.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { PrismaClient } from '../../../generated/prisma/identity/client.ts';
import type { PasswordHasher } from './passwords.ts';
import type { KeyRing } from './signing-keys.ts';

/** What the identity domain needs; wired once in subgraphs/identity/index.ts. */
export interface IdentityDeps {
  prisma: PrismaClient;
  hasher: PasswordHasher;
  keys: KeyRing;
  counters: CounterStore;
  events: EventBus;
  config: Config;
  logger: Logger;
}
