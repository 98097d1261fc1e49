import { useState } from 'preact/hooks';
import { ApiError } from '../api/client.ts';
import type { SessionManager } from '../api/session.ts';

/** Email and password sign-in. Errors say what the gateway said, in an alert. */
export function LoginForm({
  sessions,
  notice,
}: {
  sessions: SessionManager;
  notice: string | null;
}) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await sessions.login(email.trim(), password);
    } catch (e) {
      setError(
        e instanceof ApiError && e.code === 'RATE_LIMITED' && e.retryAfterSeconds
          ? `${e.message} Try again in ${e.retryAfterSeconds} s.`
          : e instanceof Error
            ? e.message
            : String(e),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form
        class="panel login-form"
        onSubmit={(e) => void submit(e)}
        aria-labelledby="login-heading"
      >
        <h1 id="login-heading">LotaBots dashboard</h1>
        <p class="muted">Sign in to watch your organization&apos;s GPUs and attestations live.</p>
        {notice ? <p class="notice">{notice}</p> : null}
        <label for="email">Email</label>
        <input
          id="email"
          type="email"
          autocomplete="username"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
        <label for="password">Password</label>
        <input
          id="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {error ? (
          <p role="alert" class="error">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
