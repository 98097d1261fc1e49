import { useEffect, useState } from 'preact/hooks';
import type { Session, SessionManager } from '../api/session.ts';
import { Dashboard } from './Dashboard.tsx';
import { LoginForm } from './LoginForm.tsx';

/** Sign-in until there is a session, the dashboard while there is one. */
export function App({ sessions }: { sessions: SessionManager }) {
  const [session, setSession] = useState<Session | null>(sessions.current);
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(
    () =>
      sessions.subscribe((next, reason) => {
        setSession(next);
        setNotice(reason);
      }),
    [sessions],
  );
  if (!session) return <LoginForm sessions={sessions} notice={notice} />;
  // Keyed by organization: a different sign-in starts from a clean page, never another tenant's.
  return <Dashboard key={session.organization.id} sessions={sessions} session={session} />;
}
