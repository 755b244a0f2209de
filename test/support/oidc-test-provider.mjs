// An OpenID Connect provider for the console's sign-in tests: panva's oidc-provider (a certified
// implementation) with its development login and consent pages, one public client that must use
// PKCE, and RS256 JWT access tokens for the API's audience (RFC 8707 resource indicator) that
// carry Silo's `roles` claim. Started as a process by test/e2e/console-oidc.e2e-spec.ts:
//   PORT=… REDIRECT_URI=… AUDIENCE=… node test/support/oidc-test-provider.mjs
// Any password is accepted; the login name picks the roles (see ACCOUNTS).
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';

const port = Number(process.env.PORT);
const redirectUri = process.env.REDIRECT_URI;
const audience = process.env.AUDIENCE;
if (!port || !redirectUri || !audience) {
  process.stderr.write('PORT, REDIRECT_URI and AUDIENCE are required\n');
  process.exit(2);
}

/** Login name → roles in the access token; any other login signs in with none. */
const ACCOUNTS = { 'ana.admin': ['admin'], 'olu.ops': ['ops'], 'sam.sre': ['sre'] };

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-1', use: 'sig', alg: 'RS256' };

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'silo-console',
      token_endpoint_auth_method: 'none',
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [new URL('/console/', redirectUri).href],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  pkce: { required: () => true },
  jwks: { keys: [signingKey] },
  cookies: { keys: ['oidc-test-provider-cookie-key'] },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, name: id }) }),
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== audience) throw new Error(`unknown resource ${resource}`);
        return {
          scope: 'silo',
          audience,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (_ctx, token) => ({ roles: ACCOUNTS[token.accountId] ?? [] }),
  clientBasedCORS: (_ctx, origin) => origin === new URL(redirectUri).origin,
});
provider.on('server_error', (_ctx, error) => process.stderr.write(`server_error: ${error.stack}\n`));
provider.listen(port, '127.0.0.1', () => process.stdout.write(`oidc test provider ready at ${issuer}\n`));
