import { decodeJwt, decodeProtectedHeader } from 'jose';

/**
 * A JWT's header and claims, unverified, or null for a malformed token: for display and for the
 * role the UI uses to show or hide controls. The gateway and subgraphs enforce every permission
 * themselves; the detail view's Verify button asks the server to check the signature.
 */
export function readJwt(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} | null {
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch {
    return null;
  }
}
