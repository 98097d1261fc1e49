/**
 * Reads a JWT's header and claims without verifying it: for display and for the role the UI uses
 * to show or hide controls. The gateway and subgraphs enforce every permission themselves.
 */
export function decodeJwt(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} | null {
  const [header, payload] = token.split('.');
  if (!header || !payload) return null;
  try {
    return { header: decodePart(header), payload: decodePart(payload) };
  } catch {
    return null;
  }
}

function decodePart(part: string): Record<string, unknown> {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}
