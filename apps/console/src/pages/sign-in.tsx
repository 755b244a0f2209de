import { useState } from 'react';

/**
 * Development sign-in: a pasted bearer token. (OpenID Connect sign-in against AUTH_ISSUER is not
 * built yet.) The token stays in this tab's sessionStorage only.
 */
export function SignIn({ onToken }: { onToken: (token: string) => void }) {
  const [token, setToken] = useState('');
  return (
    <main className="sign-in">
      <h1>Silo console</h1>
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
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
