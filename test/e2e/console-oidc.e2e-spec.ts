import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  expectConsoleSecurityHeaders,
  watchCspViolations,
  type CspViolation,
} from '../support/console-security';
import { freePort } from '../support/free-port';
import { httpStatus, REPO_ROOT, SiloProcess } from '../support/silo-process';
import { SiloStack } from '../support/silo-stack';
import { uniqueToken } from '../support/test-config';
import { createOwnDatabase, dropDatabase } from '../support/test-databases';

jest.setTimeout(180_000);

const CHROMIUM = process.env.SILO_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  process.stderr.write(
    `console OpenID Connect tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)\n`,
  );
}

// The console's OpenID Connect sign-in in a real browser: authorization code + PKCE against an
// identity provider (oidc-provider, as a process), its RS256 access token verified by the API
// through the provider's JWKS, with issuer and audience checked, and no pasted-token sign-in
// offered since the API has no development secret.
(haveChromium ? describe : describe.skip)('the console signs in with OpenID Connect', () => {
  let idp: SiloProcess;
  let stack: SiloStack;
  let database: { name: string; url: string } | undefined;
  let browser: Browser;
  let page: Page;
  let issuer: string;
  let violations: CspViolation[];

  beforeAll(async () => {
    const [idpPort, apiPort] = [await freePort(), await freePort()];
    issuer = `http://127.0.0.1:${idpPort}`;
    idp = SiloProcess.node(resolve(REPO_ROOT, 'test/support/oidc-test-provider.mjs'), {
      PORT: String(idpPort),
      REDIRECT_URI: `http://127.0.0.1:${apiPort}/console/callback`,
      AUDIENCE: 'urn:silo:api',
    });
    await idp.waitFor(
      async () => (await httpStatus(`${issuer}/.well-known/openid-configuration`)) === 200,
      'the identity provider to answer discovery',
    );
    database = await createOwnDatabase('console_oidc');
    stack = await SiloStack.start({
      PORT: String(apiPort),
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: `oi${uniqueToken(3)}`,
      AUTH_JWT_SECRET: '',
      AUTH_JWKS_URL: `${issuer}/jwks`,
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: 'urn:silo:api',
      CONSOLE_OIDC_CLIENT_ID: 'silo-console',
      CONSOLE_OIDC_RESOURCE: 'urn:silo:api',
      LOG_LEVEL: 'info',
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    violations = await watchCspViolations(page);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    idp?.kill();
    if (database) await dropDatabase(database.name);
  });

  const signInAs = async (login: string) => {
    await page.goto(`${stack.base}/console/`);
    await page.click(`button:has-text("Sign in with 127.0.0.1")`);
    // The provider's own pages: login (any password), then consent.
    await page.waitForURL((url) => url.href.startsWith(issuer));
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', 'any');
    await page.click('button:has-text("Sign-in")');
    await page.click('button:has-text("Continue")');
    await page.waitForSelector('header >> text=Tenants');
  };

  it('offers only the provider, signs an admin in with a code and PKCE, and the API accepts its token', async () => {
    // The policy lets the console fetch discovery and the token from the issuer, nowhere else.
    await expectConsoleSecurityHeaders(await page.goto(`${stack.base}/console/`), [issuer]);
    await page.waitForSelector('button:has-text("Sign in with")');
    expect(await page.locator('textarea[name=token]').count()).toBe(0);

    const authorize = page.waitForRequest((r) => r.url().startsWith(`${issuer}/auth?`));
    const signedIn = signInAs('ana.admin');
    const query = new URL((await authorize).url()).searchParams;
    expect(query.get('response_type')).toBe('code');
    expect(query.get('code_challenge_method')).toBe('S256');
    expect(query.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(query.get('resource')).toBe('urn:silo:api');
    await signedIn;

    // Back on the console's own address (the code is not left in it), with the API answering.
    expect(new URL(page.url()).pathname).toBe('/console/');
    await page.waitForSelector('text=No tenants match.');
    expect(await page.locator('header >> text=roles: admin').count()).toBe(1);
    expect(await page.locator('header >> text=Onboard').count()).toBe(1);
  });

  it('gives an sre sign-in no admin buttons', async () => {
    await page.click('button:has-text("Sign out")');
    await page.context().clearCookies();
    await signInAs('sam.sre');
    expect(await page.locator('header >> text=roles: sre').count()).toBe(1);
    expect(await page.locator('header >> text=Onboard').count()).toBe(0);
  });

  it('says why a callback it did not start is refused', async () => {
    await page.goto(`${stack.base}/console/callback?code=forged&state=not-ours`);
    const alert = await page.waitForSelector('.problem[role=alert]');
    expect(await alert.innerText()).toMatch(/Sign-in failed: .*state/i);
    expect(new URL(page.url()).search).toBe('');
  });

  it('reported no Content-Security-Policy violation on the console’s pages', () => {
    expect(violations.filter((v) => v.document.startsWith(stack.base))).toEqual([]);
  });
});
