import type { Principal } from '../../../platform/auth/principal.ts';
import { submitter } from './records.ts';

/** How the audit trail names a caller: `user:<id>` or `apikey:<id>`. */
export function auditActor(principal: Principal): string {
  return submitter(principal);
}
