/**
 * What the console reads at start (`/console/config.json`, public: it holds no secret): the
 * OpenID Connect client to sign in with, and whether a pasted token is offered, which it is in
 * development (tokens signed with AUTH_JWT_SECRET) or when no client is configured. No imports:
 * the console's build reads this type too.
 */
export interface ConsoleSettings {
  oidc: { authority: string; clientId: string; scope: string; resource?: string } | null;
  pastedToken: boolean;
}
