import { useState } from 'react';
import type { ConsoleSettings } from '../auth';

/**
 * Sign-in: OpenID Connect against the configured issuer when the API names a client, and in
 * development a pasted bearer token. Either way the token stays in this tab's sessionStorage.
 */
export function SignIn({
  settings,
  error,
  onToken,
  onProvider,
}: {
  settings: ConsoleSettings | null;
  error: string | null;
  onToken: (token: string) => void;
  onProvider: () => void;
}) {
  const [token, setToken] = useState('');
  return (
    <main className="sign-in">
      <h1>Silo console</h1>
      {error && (
        <p className="problem" role="alert">
          Sign-in failed: {error}
        </p>
      )}
      {!settings && !error && <p className="muted">Loading…</p>}
      {settings?.oidc && (
        <p>
          <button onClick={onProvider}>Sign in with {hostOf(settings.oidc.authority)}</button>
        </p>
      )}
      {settings?.pastedToken && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (token.trim()) onToken(token.trim());
          }}
        >
          <label>
            Bearer token
            <textarea name="token" rows={5} value={token} onChange={(e) => setToken(e.target.value)} />
          </label>
          <p className="muted">
            For the dev stack: <code>npm run --silent token -- --role admin</code>
          </p>
          <button type="submit">Sign in with the token</button>
        </form>
      )}
    </main>
  );
}

function hostOf(authority: string): string {
  try {
    return new URL(authority).host;
  } catch {
    return authority;
  }
}
