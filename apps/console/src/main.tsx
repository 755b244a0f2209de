import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode, useCallback, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { apiWith, type Api } from './api';
import {
  CALLBACK_PATH,
  forgetToken,
  loadSettings,
  rolesOf,
  storedToken,
  storeToken,
  userManager,
  type ConsoleSettings,
} from './auth';
import { AlarmsPage } from './pages/alarms';
import { OnboardPage } from './pages/onboard';
import { ReconciliationPage } from './pages/reconciliation';
import { RolloutPage, RolloutsPage } from './pages/rollouts';
import { SignIn } from './pages/sign-in';
import { TenantPage } from './pages/tenant';
import { TenantsPage } from './pages/tenants';
import './style.css';

export interface Session {
  api: Api;
  roles: string[];
  isAdmin: boolean;
  canCreate: boolean;
}

function useHashRoute(): string {
  const [hash, setHash] = useState(() => location.hash.slice(1) || '/tenants');
  useEffect(() => {
    const onChange = () => setHash(location.hash.slice(1) || '/tenants');
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return hash;
}

/**
 * Signing in: the settings say which ways are offered. Coming back from the identity provider
 * (the callback path), the code is exchanged for tokens, then the address is put back to the
 * console's own so that a reload does not replay the code.
 */
function useSignIn() {
  const [settings, setSettings] = useState<ConsoleSettings | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [token, setToken] = useState(() => (location.pathname === CALLBACK_PATH ? null : storedToken()));
  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const loaded = await loadSettings();
        if (!live) return;
        setSettings(loaded);
        if (location.pathname !== CALLBACK_PATH) return;
        history.replaceState(null, '', '/console/#/tenants');
        if (!loaded.oidc) throw new Error('this console has no OpenID Connect client configured');
        const user = await userManager(loaded.oidc).signinRedirectCallback(
          `${location.origin}${CALLBACK_PATH}${callbackSearch}`,
        );
        if (!live) return;
        storeToken(user.access_token);
        setToken(user.access_token);
      } catch (e) {
        if (live) setError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      live = false;
    };
  }, []);
  const signOut = useCallback(() => {
    forgetToken();
    if (settings?.oidc) void userManager(settings.oidc).removeUser();
    setToken(null);
  }, [settings]);
  const signInWithToken = useCallback((t: string) => {
    storeToken(t);
    setError(null);
    setToken(t);
  }, []);
  const signInWithProvider = useCallback(() => {
    if (!settings?.oidc) return;
    userManager(settings.oidc)
      .signinRedirect()
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, [settings]);
  return { settings, error, token, signOut, signInWithToken, signInWithProvider };
}

// Read once, before the address is replaced: the identity provider's answer (code and state, or error).
const callbackSearch = location.pathname === CALLBACK_PATH ? location.search : '';

function App() {
  const { settings, error, token, signOut, signInWithToken, signInWithProvider } = useSignIn();
  const session = useMemo<Session | null>(() => {
    if (!token) return null;
    const roles = rolesOf(token);
    return {
      api: apiWith(token, signOut),
      roles,
      isAdmin: roles.includes('admin'),
      canCreate: roles.includes('admin') || roles.includes('ops'),
    };
  }, [token, signOut]);
  const route = useHashRoute();

  if (!session) {
    return (
      <SignIn settings={settings} error={error} onToken={signInWithToken} onProvider={signInWithProvider} />
    );
  }
  const [, page, id] = route.split('/');
  return (
    <>
      <header>
        <strong>Silo</strong>
        <nav>
          <a href="#/tenants">Tenants</a>
          {session.canCreate && <a href="#/onboard">Onboard</a>}
          <a href="#/alarms">Alarms firing</a>
          <a href="#/rollouts">Schema rollouts</a>
          <a href="#/reconciliation">Reconciliation</a>
        </nav>
        <span className="muted">roles: {session.roles.join(', ') || 'none'}</span>
        <button onClick={signOut}>Sign out</button>
      </header>
      <main>
        {page === 'tenants' && id ? (
          <TenantPage session={session} id={decodeURIComponent(id)} />
        ) : page === 'onboard' ? (
          <OnboardPage session={session} />
        ) : page === 'alarms' ? (
          <AlarmsPage session={session} />
        ) : page === 'rollouts' && id ? (
          <RolloutPage session={session} id={decodeURIComponent(id)} />
        ) : page === 'rollouts' ? (
          <RolloutsPage session={session} />
        ) : page === 'reconciliation' ? (
          <ReconciliationPage session={session} />
        ) : (
          <TenantsPage session={session} />
        )}
      </main>
    </>
  );
}

const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={client}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
