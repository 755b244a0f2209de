import { UserManager, WebStorageStateStore } from 'oidc-client-ts';
import type { ConsoleSettings } from '../../control-plane-api/src/console-settings';

export type { ConsoleSettings };

const TOKEN_KEY = 'silo.console.token';
/** Where the identity provider sends the browser back with the code (register it as a redirect URI). */
export const CALLBACK_PATH = '/console/callback';

/** What the API says about signing in (`/console/config.json`). */
export async function loadSettings(): Promise<ConsoleSettings> {
  const res = await fetch('/console/config.json', { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`the console's settings could not be read (HTTP ${res.status})`);
  return (await res.json()) as ConsoleSettings;
}

/**
 * OpenID Connect, authorization code + PKCE, by oidc-client-ts: discovery from the issuer, state
 * and code verifier kept in this tab's sessionStorage, the code exchanged at the token endpoint
 * by the browser (a public client: no client secret). The access token is the API's bearer token.
 */
export function userManager(oidc: NonNullable<ConsoleSettings['oidc']>): UserManager {
  const resource = oidc.resource ? { resource: oidc.resource } : undefined;
  return new UserManager({
    authority: oidc.authority,
    client_id: oidc.clientId,
    redirect_uri: `${location.origin}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${location.origin}/console/`,
    response_type: 'code',
    scope: oidc.scope,
    // RFC 8707: asks for an access token whose audience is the API.
    extraQueryParams: resource,
    extraTokenParams: resource,
    userStore: new WebStorageStateStore({ store: sessionStorage }),
    stateStore: new WebStorageStateStore({ store: sessionStorage }),
    automaticSilentRenew: false,
    loadUserInfo: false,
  });
}

/** The bearer token this tab signed in with, while it has not expired. */
export function storedToken(): string | null {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const exp = claimsOf(token).exp;
  if (typeof exp === 'number' && exp * 1000 <= Date.now()) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return token;
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A JWT's payload, unverified: the API verifies; the console only reads roles and expiry. */
export function claimsOf(token: string): Record<string, unknown> {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const payload: unknown = JSON.parse(atob(part));
    return payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The roles in a token (they only hide buttons: the API decides). */
export function rolesOf(token: string): string[] {
  const roles = claimsOf(token).roles;
  return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [];
}
