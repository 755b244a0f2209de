import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode, useCallback, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { apiWith, rolesOf, type Api } from './api';
import { AlarmsPage } from './pages/alarms';
import { OnboardPage } from './pages/onboard';
import { RolloutPage, RolloutsPage } from './pages/rollouts';
import { SignIn } from './pages/sign-in';
import { TenantPage } from './pages/tenant';
import { TenantsPage } from './pages/tenants';
import './style.css';

const TOKEN_KEY = 'silo.console.token';

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

function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY));
  const signOut = useCallback(() => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  }, []);
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
      <SignIn
        onToken={(t) => {
          sessionStorage.setItem(TOKEN_KEY, t);
          setToken(t);
        }}
      />
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
