import {
  LoginDocument,
  LogoutDocument,
  RefreshSessionDocument,
  type SessionFragment,
} from '../../../../generated/graphql/dashboard/operations.ts';
import { ApiError, execute } from './client.ts';
import { readJwt } from './jwt.ts';
import { refreshDelayMs } from './timing.ts';

/** A signed-in user's tokens and who they are. Kept in memory only: a reload signs out. */
export interface Session {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires (epoch ms). */
  expiresAt: number;
  user: SessionFragment['user'];
  organization: SessionFragment['organization'];
  /** The role claim of the access token (OWNER … VIEWER). */
  role: string;
}

/** Roles allowed to submit attestations (API.md: OPERATOR and stronger). */
const OPERATING_ROLES = new Set(['OWNER', 'ADMIN', 'OPERATOR']);

export function canOperate(session: Session): boolean {
  return OPERATING_ROLES.has(session.role);
}

type Listener = (session: Session | null, reason: string | null) => void;

/**
 * Owns the session: signs in, refreshes the access token before it expires (rotating the refresh
 * token, as the identity service requires), and signs out. Listeners hear every change, including
 * the end of a session whose refresh token was revoked.
 */
export class SessionManager {
  private session: Session | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<Listener>();

  get current(): Session | null {
    return this.session;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async login(email: string, password: string): Promise<void> {
    const { login } = await execute(LoginDocument, { input: { email, password } }, null);
    this.apply(login);
  }

  /** Rotates the tokens now. On a network error it tries again while the access token lasts. */
  async refresh(): Promise<void> {
    const current = this.session;
    if (!current) return;
    try {
      const { refreshToken } = await execute(
        RefreshSessionDocument,
        { input: { refreshToken: current.refreshToken } },
        null,
      );
      if (this.session === current) this.apply(refreshToken);
    } catch (error) {
      if (this.session !== current) return;
      const transient =
        error instanceof ApiError &&
        ['NETWORK_ERROR', 'BAD_RESPONSE', 'RATE_LIMITED', 'INTERNAL_SERVER_ERROR'].includes(
          error.code,
        );
      if (transient && current.expiresAt - Date.now() > 5_000) {
        this.schedule(5_000);
        return;
      }
      this.end('Your session ended; sign in again.');
    }
  }

  async logout(): Promise<void> {
    const current = this.session;
    this.end(null);
    if (!current) return;
    // Revoking the refresh token is best effort: the page forgets both tokens either way.
    await execute(LogoutDocument, { input: { refreshToken: current.refreshToken } }, null).catch(
      () => undefined,
    );
  }

  private apply(payload: SessionFragment): void {
    const claims = readJwt(payload.accessToken)?.payload ?? {};
    this.session = {
      accessToken: payload.accessToken,
      refreshToken: payload.refreshToken,
      expiresAt: Date.now() + payload.expiresIn * 1_000,
      user: payload.user,
      organization: payload.organization,
      role: typeof claims.role === 'string' ? claims.role : 'VIEWER',
    };
    this.schedule(refreshDelayMs(payload.expiresIn));
    this.emit(null);
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), delayMs);
  }

  private end(reason: string | null): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.session = null;
    this.emit(reason);
  }

  private emit(reason: string | null): void {
    for (const listener of this.listeners) listener(this.session, reason);
  }
}
