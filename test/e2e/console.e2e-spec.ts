import { SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { mintDevToken, type Role } from '../../libs/auth/src';
import { AwsClients } from '../../libs/aws/src';
import { loadConfig } from '../../libs/config/src';
import { tenantResourceNames } from '../../libs/core/src';
import { removeTenantInstancesUnder } from '../support/local-tenant-instance';
import {
  expectConsoleSecurityHeaders,
  watchCspViolations,
  type CspViolation,
} from '../support/console-security';
import { REPO_ROOT } from '../support/silo-process';
import { eventually } from '../support/eventually';
import { SiloStack } from '../support/silo-stack';
import { fastLocalSagaEnvironment, uniqueToken } from '../support/test-config';
import { createOwnDatabase, dropDatabase } from '../support/test-databases';

jest.setTimeout(240_000);

const CHROMIUM = process.env.SILO_CHROMIUM ?? '/usr/bin/chromium';
// The README's screenshots are refreshed with SILO_UPDATE_SCREENSHOTS=1; a normal run keeps its own.
const SCREENSHOTS = resolve(
  REPO_ROOT,
  process.env.SILO_UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : '.cache/console-screenshots',
);
const prefix = `co${uniqueToken(3)}`;
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  // Visible in the run's output: scripts/test.sh installs Debian's chromium where it can.
  process.stderr.write(
    `console browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)\n`,
  );
}

// The console in a real browser (Debian's Chromium driven by playwright-core) against the API,
// the worker and the emulator as processes: sign in with a dev token, onboard a tenant and see
// it reach ACTIVE, filter the list, open it, its four alarms, suspend and resume it, a refusal
// shown as the API states it, an sre token without the admin buttons, and the firing alarm view.
(haveChromium ? describe : describe.skip)('the ops console in Chromium', () => {
  let stack: SiloStack;
  let database: { name: string; url: string } | undefined;
  let browser: Browser;
  let page: Page;
  let violations: CspViolation[];
  const slug = `web-${uniqueToken(2)}`;

  beforeAll(async () => {
    database = await createOwnDatabase('console');
    stack = await SiloStack.start({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      LOG_LEVEL: 'info',
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    violations = await watchCspViolations(page);
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  const token = (roles: Role[]) =>
    mintDevToken({
      secret: stack.env.AUTH_JWT_SECRET,
      sub: `console-${roles.join('-')}`,
      roles,
      issuer: stack.env.AUTH_ISSUER,
      audience: stack.env.AUTH_AUDIENCE,
    });
  const signIn = async (roles: Role[]) => {
    await page.goto(`${stack.base}/console/`);
    await page.evaluate('sessionStorage.clear()');
    await page.reload();
    await page.fill('textarea[name=token]', await token(roles));
    await page.click('button[type=submit]');
    await page.waitForSelector('header >> text=Tenants');
  };
  const shot = (name: string) =>
    page.screenshot({ path: resolve(SCREENSHOTS, `${name}.png`), fullPage: true });

  it('serves the console, its assets and its settings with strict security headers', async () => {
    const script = page.waitForResponse((r) => /\/console\/assets\/.+\.js$/.test(r.url()));
    const settings = page.waitForResponse((r) => r.url().endsWith('/console/config.json'));
    await expectConsoleSecurityHeaders(await page.goto(`${stack.base}/console/`));
    await expectConsoleSecurityHeaders(await script);
    await expectConsoleSecurityHeaders(await settings);
    await page.waitForSelector('textarea[name=token]');
  });

  it('signs in, onboards a tenant that reaches ACTIVE, shows its alarms, suspends and resumes it, and shows a refusal', async () => {
    await signIn(['admin']);
    await page.click('text=Onboard');
    await page.fill('input[name=slug]', 'Bad Slug');
    await page.waitForSelector('.field-error');
    // A slug already taken is said so as it is typed.
    const other = `taken-${uniqueToken(2)}`;
    await stack.call(
      'POST',
      '/v1/tenants',
      { sub: 'setup', roles: ['ops'] },
      { slug: other, name: 'Taken', tier: 'starter' },
    );
    await page.fill('input[name=slug]', other);
    await page.waitForSelector(`.field-error:has-text("${other} is already taken")`);
    await page.fill('input[name=slug]', slug);
    expect(await page.locator('.field-error').count()).toBe(0);
    await page.fill('input[name=name]', 'Web Corp');
    await page.click('.tier-card:has-text("pro")');
    await shot('onboard');
    // A double click: one submission, one Idempotency-Key, one tenant.
    await page.dblclick('button:has-text("Create")');
    await page.waitForSelector(`h1:has-text("${slug}")`);
    await page.waitForSelector('h1 .badge-active', { timeout: 60_000 });
    const { body } = await stack.call<{ items: { slug: string }[] }>('GET', '/v1/tenants?limit=200', {
      sub: 'check',
      roles: ['sre'],
    });
    expect(body.items.filter((t) => t.slug === slug)).toHaveLength(1);

    // The API reads CloudWatch every 15 s in the background and the page every 15 s.
    // (A locator, not waitForFunction: a string predicate is an eval, which the console's CSP refuses.)
    await page.locator('table.alarms tr').nth(3).waitFor({ timeout: 45_000 });
    expect(await page.locator('table.alarms tr').count()).toBe(4);
    await page.waitForSelector('text=tenant.activated');
    await shot('tenant');

    await page.click('button:has-text("Suspend")');
    await page.waitForSelector('h1 .badge-suspended');
    await page.click('button:has-text("Resume")');
    await page.waitForSelector('h1 .badge-active');
    // A refusal: retry is for FAILED tenants only; the API's detail is shown as is.
    await page.click('button:has-text("Retry")');
    const problem = await page.waitForSelector('.problem[role=alert]');
    expect(await problem.innerText()).toMatch(/409 Conflict[\s\S]*ACTIVE/);
  });

  it('filters the tenants list by status', async () => {
    await page.click('header >> text=Tenants');
    await page.selectOption('select[name=status]', 'ACTIVE');
    await page.waitForSelector(`tr[data-slug="${slug}"]`);
    await shot('tenants');
    await page.selectOption('select[name=status]', 'SUSPENDED');
    await page.waitForSelector('text=No tenants match.');
  });

  it('shows the firing alarms of the fleet', async () => {
    const aws = new AwsClients(loadConfig({ env: stack.env, envFile: false }));
    try {
      await aws.cloudWatch.send(
        new SetAlarmStateCommand({
          AlarmName: tenantResourceNames(prefix, slug).alarmName('CPUUtilization'),
          StateValue: 'ALARM',
          StateReason: 'console test',
        }),
      );
    } finally {
      aws.onApplicationShutdown();
    }
    await page.click('text=Alarms firing');
    // The API reads CloudWatch every 15 s in the background, and the page refreshes itself.
    await page.waitForSelector(`td >> text=${slug}`, { timeout: 40_000 });
    expect(await page.locator('td >> text=CPUUtilization').count()).toBe(1);
    await shot('alarms');
  });

  it('shows schema rollouts and one rollout’s progress per wave', async () => {
    const started = await stack.call<{ id: string }>(
      'POST',
      '/v1/schema-rollouts',
      { sub: 'setup', roles: ['admin'] },
      {},
    );
    expect(started.status).toBe(202);
    await page.click('text=Schema rollouts');
    await page.click(`a[href="#/rollouts/${started.body.id}"]`);
    await page.waitForSelector('h1:has-text("Rollout to")');
    await page.waitForSelector('table.waves');
    await page.waitForSelector('h1 .badge-succeeded', { timeout: 30_000 });
    // The tenants here were provisioned at the newest version: no wave had work to do.
    await page.waitForSelector('text=Every tenant was already at this version.');
  });

  it('hides the admin buttons from an sre token, and sends a 401 back to sign-in', async () => {
    await signIn(['sre']);
    expect(await page.locator('header >> text=Onboard').count()).toBe(0);
    await page.click(`a:has-text("${slug}")`);
    await page.waitForSelector(`h1:has-text("${slug}")`);
    expect(await page.locator('button:has-text("Suspend")').count()).toBe(0);
    expect(await page.locator('button:has-text("Delete")').count()).toBe(0);

    await page.evaluate("sessionStorage.setItem('silo.console.token', 'not-a-token')");
    await page.reload();
    await page.waitForSelector('textarea[name=token]');
  });

  it('reported no Content-Security-Policy violation on any of its pages', async () => {
    expect(violations).toEqual([]);
    // The watch itself works: a fetch the policy refuses is reported.
    await page.evaluate("fetch('http://192.0.2.1/csp-probe').catch(() => undefined)");
    await eventually(() =>
      Promise.resolve().then(() => expect(violations.map((v) => v.directive)).toContain('connect-src')),
    );
  });
});
