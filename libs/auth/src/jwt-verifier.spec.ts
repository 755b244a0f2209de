import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { mintDevToken } from './dev-token';
import { bearerToken, JwtVerifier, jwtVerifierFromSettings } from './jwt-verifier';
import { AuthError, AuthErrorCode } from './principal';

const SECRET = 'a-development-secret-of-at-least-32-chars';
const hs = new JwtVerifier({ hs256Secret: SECRET, issuer: 'silo-dev', audience: 'silo-api' });
const mint = (overrides: Partial<Parameters<typeof mintDevToken>[0]> = {}) =>
  mintDevToken({
    secret: SECRET,
    sub: 'ops-1',
    roles: ['ops'],
    issuer: 'silo-dev',
    audience: 'silo-api',
    ...overrides,
  });

/** A token with claims as given, which mintDevToken's types would not allow. */
const rawToken = (claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('x')
    .setIssuer('silo-dev')
    .setAudience('silo-api')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'accepted',
    (e: { code?: string }) => e.code ?? 'unknown',
  );
}

describe('JwtVerifier with an HS256 secret', () => {
  it('accepts a valid token and keeps only known roles', async () => {
    const token = await mint({ roles: ['ops', 'sre'] });
    expect(await hs.verify(token)).toEqual({ sub: 'ops-1', roles: ['ops', 'sre'] });
    const odd = await rawToken({ roles: ['admin', 'root', 7] });
    expect((await hs.verify(odd)).roles).toEqual(['admin']);
  });

  it('carries tenant_id for tenant tokens', async () => {
    expect(await hs.verify(await mint({ roles: undefined, tenantId: 'acme' }))).toEqual({
      sub: 'ops-1',
      roles: [],
      tenantId: 'acme',
    });
  });

  it.each([
    ['no token', Promise.resolve(undefined), AuthErrorCode.MISSING_TOKEN],
    [
      'a bad signature',
      mintDevToken({
        secret: 'another-secret-of-at-least-32-characters',
        sub: 'x',
        issuer: 'silo-dev',
        audience: 'silo-api',
      }),
      AuthErrorCode.INVALID_TOKEN,
    ],
    ['an expired token', mint({ ttlSeconds: -120 }), AuthErrorCode.EXPIRED_TOKEN],
    ['the wrong audience', mint({ audience: 'someone-else' }), AuthErrorCode.INVALID_TOKEN],
    ['the wrong issuer', mint({ issuer: 'evil' }), AuthErrorCode.INVALID_TOKEN],
    ['garbage', Promise.resolve('not.a.jwt'), AuthErrorCode.INVALID_TOKEN],
  ])('refuses %s', async (_what, token, code) => {
    expect(await codeOf(hs.verify(await token))).toBe(code);
  });

  it('refuses a sub that cannot be recorded as an actor (too long, control characters)', async () => {
    expect(await codeOf(hs.verify(await mint({ sub: 'x'.repeat(201) })))).toBe('INVALID_TOKEN');
    expect(await codeOf(hs.verify(await mint({ sub: 'ops\nadmin' })))).toBe('INVALID_TOKEN');
    await expect(hs.verify(await mint({ sub: 'é'.repeat(200) }))).resolves.toMatchObject({
      sub: 'é'.repeat(200),
    });
  });

  it('refuses an unsigned (alg none) token', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(
      JSON.stringify({ sub: 'x', roles: ['admin'], exp: Math.floor(Date.now() / 1000) + 60 }),
    ).toString('base64url');
    expect(await codeOf(hs.verify(`${header}.${body}.`))).toBe(AuthErrorCode.INVALID_TOKEN);
  });

  it('never puts the token in an error message', async () => {
    const token = await mint({ audience: 'someone-else' });
    const error = await hs.verify(token).catch((e: Error) => e);
    expect(String((error as Error).message)).not.toContain(token);
  });
});

describe('JwtVerifier with a JWKS URL', () => {
  let server: Server;
  let url: string;
  let sign: (claims: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks.json`;
    sign = (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setSubject('sre-7')
        .setExpirationTime('5m')
        .sign(privateKey);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('verifies tokens signed by a key the JWKS publishes', async () => {
    const verifier = new JwtVerifier({ jwksUrl: url });
    expect(await verifier.verify(await sign({ roles: ['sre'] }))).toEqual({ sub: 'sre-7', roles: ['sre'] });
  });

  it('refuses an HS256 token signed with the JWKS text as a secret (algorithm confusion)', async () => {
    const verifier = new JwtVerifier({ jwksUrl: url });
    const forged = await mintDevToken({ secret: 'x'.repeat(40), sub: 'attacker', roles: ['admin'] });
    expect(await codeOf(verifier.verify(forged))).toBe(AuthErrorCode.INVALID_TOKEN);
  });
});

describe('the two planes', () => {
  const auth = { jwtSecret: SECRET, issuer: 'silo-dev', audience: 'silo-api', tenantAudience: 'silo-tenant' };
  const controlPlane = jwtVerifierFromSettings(auth, 'the API', 'control-plane');
  const dataPlane = jwtVerifierFromSettings(auth, 'a tenant app', 'data-plane');
  const TENANT = '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f';
  const operator = () => mint({ roles: ['admin'] });
  const tenant = () => mint({ roles: undefined, tenantId: TENANT, audience: 'silo-tenant' });

  it('serves each kind of token on its own plane only', async () => {
    expect(await controlPlane.verify(await operator())).toEqual({ sub: 'ops-1', roles: ['admin'] });
    expect(await dataPlane.verify(await tenant())).toEqual({ sub: 'ops-1', roles: [], tenantId: TENANT });
    expect(await codeOf(dataPlane.verify(await operator()))).toBe(AuthErrorCode.WRONG_PLANE);
    expect(await codeOf(controlPlane.verify(await tenant()))).toBe(AuthErrorCode.WRONG_PLANE);
  });

  it("refuses the other plane's claims in a token for its own audience", async () => {
    const adminWithTenant = await mint({ roles: ['admin'], tenantId: TENANT });
    expect(await codeOf(controlPlane.verify(adminWithTenant))).toBe(AuthErrorCode.WRONG_PLANE);
    const tenantWithRoles = await mint({ roles: ['admin'], tenantId: TENANT, audience: 'silo-tenant' });
    expect(await codeOf(dataPlane.verify(tenantWithRoles))).toBe(AuthErrorCode.WRONG_PLANE);
    // Any tenant_id at all, even one that is no string, marks a token of the data plane.
    const odd = await rawToken({ roles: ['admin'], tenant_id: 7 });
    expect(await codeOf(controlPlane.verify(odd))).toBe(AuthErrorCode.WRONG_PLANE);
  });

  it('answers a token for the other plane 403, and one for nobody 401', async () => {
    const wrongPlane = await controlPlane.verify(await tenant()).catch((e: AuthError) => e);
    expect(wrongPlane).toMatchObject({ status: 403, bearerError: 'insufficient_scope' });
    const nobody = await controlPlane
      .verify(await mint({ audience: 'someone-else' }))
      .catch((e: AuthError) => e);
    expect(nobody).toMatchObject({
      code: AuthErrorCode.INVALID_TOKEN,
      status: 401,
      bearerError: 'invalid_token',
    });
  });

  it('will not build a verifier without a JWKS under NODE_ENV=production, naming AUTH_JWKS_URL', () => {
    expect(() => jwtVerifierFromSettings({ production: true }, 'the API', 'control-plane')).toThrow(
      'the API needs AUTH_JWKS_URL with NODE_ENV=production',
    );
  });

  it('will not build a control-plane verifier without its audience, nor one on a secret in production', () => {
    expect(() =>
      jwtVerifierFromSettings({ ...auth, audience: undefined }, 'the API', 'control-plane'),
    ).toThrow('the API needs AUTH_AUDIENCE');
    expect(() => jwtVerifierFromSettings({ ...auth, production: true }, 'the API', 'control-plane')).toThrow(
      'the API takes no AUTH_JWT_SECRET with NODE_ENV=production',
    );
  });

  it('will not build a data-plane verifier without its own audience', () => {
    expect(() =>
      jwtVerifierFromSettings({ ...auth, tenantAudience: undefined }, 'a tenant app', 'data-plane'),
    ).toThrow('a tenant app needs TENANT_AUTH_AUDIENCE');
    expect(() =>
      jwtVerifierFromSettings({ ...auth, tenantAudience: 'silo-api' }, 'the API', 'control-plane'),
    ).toThrow("the other plane's audience must differ");
  });
});

describe('bearerToken', () => {
  it.each([
    ['Bearer a.b.c', 'a.b.c'],
    ['bearer a.b.c', 'a.b.c'],
    ['Bearer  a.b.c', undefined],
    ['Basic dXNlcjpwYXNz', undefined],
    [undefined, undefined],
    ['Bearer a.b.c extra', undefined],
  ])('reads %j as %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});
