import { DeleteAlarmsCommand, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page, type Route } from 'playwright-core';
import { DataSource } from 'typeorm';
import { mintDevToken, type Role } from '../../libs/auth/src';
import { AwsClients, TenantSecrets } from '../../libs/aws/src';
import { loadConfig } from '../../libs/config/src';
import { controlPlaneDataSourceOptions } from '../../libs/control-plane-db/src';
import { tenantResourceNames } from '../../libs/core/src';
import { createFleet, type FleetTenant } from '../../libs/fleet/test/rollout-fleet';
import { loadTenantMigrations } from '../../libs/tenant-schema/src';
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
// The console screenshots of docs/operating-tenants.md are refreshed with SILO_UPDATE_SCREENSHOTS=1; a normal run keeps its own.
const SCREENSHOTS = resolve(
  REPO_ROOT,
  process.env.SILO_UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : '.cache/console-screenshots',
);
const prefix = `co${uniqueToken(3)}`;
// Three versions (0001-0003): new tenants get 0003, and a fleet left at 0001 gives a rollout work.
const MIGRATIONS = resolve(REPO_ROOT, 'test/fixtures/tenant-migrations/fleet');
const GIB = 1024 ** 3;
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  // Visible in the run's output: scripts/test.sh installs Debian's chromium where it can.
  process.stderr.write(
    `console browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)\n`,
  );
}

// The console in a real browser (Debian's Chromium driven by playwright-core) against the API,
// the worker and the emulator as processes: sign in with a dev token, onboard a tenant and see
// it reach ACTIVE with its alarms (thresholds in GiB, %) and audit trail on the page opened while
// it provisioned, only the actions its status allows, suspend and resume it, a refusal shown as
// the API states it, filter the list, the firing alarm view, the schema-version skew and a
// rollout started and approved from the console, the reconciler's findings and orphans, and an
// sre token without the admin buttons.
(haveChromium ? describe : describe.skip)('the ops console in Chromium', () => {
  let stack: SiloStack;
  let database: { name: string; url: string } | undefined;
  let browser: Browser;
  let page: Page;
  let violations: CspViolation[];
  let aws: AwsClients;
  let ds: DataSource;
  const fleet: FleetTenant[] = [];
  const slug = `web-${uniqueToken(2)}`;
  const ghost = { id: randomUUID(), slug: `ghost-${uniqueToken(2)}` };

  beforeAll(async () => {
    database = await createOwnDatabase('console');
    stack = await SiloStack.start({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      TENANT_MIGRATIONS_DIR: MIGRATIONS,
      ALARM_ACTIONS: 'none',
      LOG_LEVEL: 'info',
    });
    aws = new AwsClients(loadConfig({ env: stack.env, envFile: false }));
    ds = await new DataSource(
      controlPlaneDataSourceOptions({
        url: database.url,
        poolMax: 2,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    ).initialize();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    violations = await watchCspViolations(page);
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await ds?.destroy();
    await aws?.cloudWatch
      .send(
        new DeleteAlarmsCommand({
          AlarmNames: [tenantResourceNames(prefix, ghost.slug).alarmName('CPUUtilization')],
        }),
      )
      .catch(() => undefined);
    aws?.onApplicationShutdown();
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

  it('signs in, onboards a tenant that reaches ACTIVE on the page opened while it provisions, with its alarms and audit trail, offers only what its status allows, and shows a refusal', async () => {
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
    // A double click: one submission, one Idempotency-Key, one tenant. The page it lands on is
    // opened while the tenant provisions, and is never reloaded below.
    const firstRead = page.waitForResponse(
      (r) =>
        r.request().method() === 'GET' && /^\/v1\/tenants\/[0-9a-f-]{36}$/.test(new URL(r.url()).pathname),
    );
    await page.dblclick('button:has-text("Create")');
    await page.waitForSelector(`h1:has-text("${slug}")`);
    const opened = (await (await firstRead).json()) as { id: string; status: string };
    expect(opened.status).not.toBe('ACTIVE');
    await page.evaluate('window.openedWhileProvisioning = true');
    const tenantPath = `/v1/tenants/${opened.id}`;
    await page.waitForSelector('h1 .badge-active', { timeout: 60_000 });
    const { body } = await stack.call<{ items: { slug: string }[] }>('GET', '/v1/tenants?limit=200', {
      sub: 'check',
      roles: ['sre'],
    });
    expect(body.items.filter((t) => t.slug === slug)).toHaveLength(1);

    // Its audit trail, all of it, and its four alarms appear on that page without a reload. The
    // API reads CloudWatch every 15 s in the background; the page reads alarms often until it
    // has a read from after the tenant turned ACTIVE.
    // (Locators, not waitForFunction: a string predicate is an eval, which the console's CSP refuses.)
    await page.waitForSelector('table.events >> text=tenant.activated');
    const trail = await stack.call<{ items: unknown[] }>('GET', `${tenantPath}/events`, {
      sub: 'check',
      roles: ['sre'],
    });
    expect(trail.body.items.length).toBeGreaterThan(1);
    await page
      .locator('table.events tr')
      .nth(trail.body.items.length - 1)
      .waitFor();
    expect(await page.locator('table.events tr').count()).toBe(trail.body.items.length);
    await page.locator('table.alarms tr').nth(3).waitFor({ timeout: 40_000 });
    expect(await page.locator('table.alarms tr').count()).toBe(4);
    expect(await page.evaluate('window.openedWhileProvisioning')).toBe(true);

    // Thresholds as an SRE reads them, not CloudWatch's raw bytes and operator names.
    const alarms = await stack.call<{ items: { metric: string; threshold: number }[] }>(
      'GET',
      `${tenantPath}/alarms`,
      { sub: 'check', roles: ['sre'] },
    );
    const storage = alarms.body.items.find((a) => a.metric === 'FreeStorageSpace')!;
    const storageRow = page.locator('table.alarms tr:has-text("FreeStorageSpace") td').nth(1);
    expect(await storageRow.innerText()).toBe(
      `< ${Number((storage.threshold / GIB).toFixed(1))} GiB free storage`,
    );
    expect(await page.locator('table.alarms tr:has-text("FreeableMemory") td').nth(1).innerText()).toMatch(
      /^< \d+(\.\d)? (GiB|MiB) freeable memory$/,
    );
    expect(await page.locator('table.alarms tr:has-text("CPUUtilization") td').nth(1).innerText()).toMatch(
      /^> \d+(\.\d)?% CPU$/,
    );
    expect(
      await page.locator('table.alarms tr:has-text("DatabaseConnections") td').nth(1).innerText(),
    ).toMatch(/^> \d+ connections$/);
    expect(await page.locator('table.alarms').innerText()).not.toMatch(/Threshold|\d{7,}/);
    await shot('tenant');

    // Only what the status allows: an ACTIVE tenant can be suspended, not retried or resumed.
    const offered = async (label: string) => page.locator(`.actions button:has-text("${label}")`).count();
    expect(await offered('Retry')).toBe(0);
    expect(await offered('Resume')).toBe(0);
    expect(await offered('Suspend')).toBe(1);
    expect(await offered('Delete')).toBe(1);
    // A move needs a place to go: its button waits for a field.
    expect(await page.locator('.actions button:has-text("Move")').isDisabled()).toBe(true);
    await page.selectOption('select[name=move-tier]', 'enterprise');
    expect(await page.locator('.actions button:has-text("Move")').isEnabled()).toBe(true);
    await page.click('button:has-text("Suspend")');
    await page.waitForSelector('h1 .badge-suspended');
    await page.waitForSelector('.actions button:has-text("Resume")');
    expect(await offered('Suspend')).toBe(0);
    expect(await offered('Retry')).toBe(0);
    await page.click('button:has-text("Resume")');
    await page.waitForSelector('h1 .badge-active');
    await page.waitForSelector('.actions button:has-text("Suspend")');
    expect(await offered('Resume')).toBe(0);

    // A refusal, shown as the API states it: someone else suspends the tenant while this page
    // still shows it ACTIVE (its reads of the tenant held back meanwhile), so Suspend is a 409.
    const held: Route[] = [];
    let heldOne: () => void = () => undefined;
    const oneHeld = new Promise<void>((r) => (heldOne = r));
    const tenantRead = (url: URL) => url.pathname === tenantPath;
    await page.route(tenantRead, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      held.push(route);
      heldOne();
    });
    await oneHeld;
    expect(
      (await stack.call('POST', `${tenantPath}/suspend`, { sub: 'someone-else', roles: ['admin'] })).status,
    ).toBe(200);
    const refused = page.waitForResponse((r) => new URL(r.url()).pathname === `${tenantPath}/suspend`);
    await page.click('button:has-text("Suspend")');
    expect((await refused).status()).toBe(409);
    // The page reads the tenant again after the refusal; let it through.
    await page.unroute(tenantRead);
    for (const route of held) await route.continue().catch(() => undefined);
    const problem = await page.waitForSelector('.problem[role=alert]');
    expect(await problem.innerText()).toMatch(/409 Conflict[\s\S]*SUSPENDED/);
    await page.waitForSelector('h1 .badge-suspended');
    await page.click('button:has-text("Resume")');
    await page.waitForSelector('h1 .badge-active');
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
    await aws.cloudWatch.send(
      new SetAlarmStateCommand({
        AlarmName: tenantResourceNames(prefix, slug).alarmName('CPUUtilization'),
        StateValue: 'ALARM',
        StateReason: 'console test',
      }),
    );
    await page.click('text=Alarms firing');
    // The API reads CloudWatch every 15 s in the background, and the page refreshes itself.
    await page.waitForSelector(`td >> text=${slug}`, { timeout: 40_000 });
    expect(await page.locator('td >> text=CPUUtilization').count()).toBe(1);
    expect(await page.locator(`tr:has-text("${slug}")`).innerText()).toMatch(/> \d+(\.\d)?% CPU/);
    await shot('alarms');
  });

  it('shows the schema-version skew, and an admin starts a rollout with an approval gate and sees it run', async () => {
    // Three tenants left at 0001, as if they predated 0002 and 0003.
    await createFleet({
      dataSource: ds,
      secrets: new TenantSecrets(aws),
      prefix,
      environment: stack.env.SILO_ENVIRONMENT,
      tier: 'starter',
      count: 3,
      version: '0001',
      set: loadTenantMigrations({ dir: MIGRATIONS }),
      registry: fleet,
    });
    await page.click('text=Schema rollouts');
    const at = (version: string) => page.locator(`table.skew tr[data-version="${version}"] td`).nth(1);
    await page.waitForSelector('table.skew tr[data-version="0001"]');
    expect(await at('0001').innerText()).toBe('3');
    // The onboarded tenant and the one taken for the slug check, both at the newest.
    expect(await at('0003').innerText()).toBe('2');
    await page.waitForSelector('text=3 of 5 tenants behind.');
    await page.fill('input[name=canary]', '1');
    await page.fill('input[name=waves]', '100');
    await page.fill('input[name=maxConcurrency]', '2');
    await page.check('input[name=pauseBetweenWaves]');
    await shot('rollouts');

    await page.click('button:has-text("Start rollout")');
    await page.waitForSelector('h1:has-text("Rollout to 0003")');
    // The canary alone, then the gate: the rest waits for an admin's approval.
    await page.waitForSelector('h1 .badge-paused', { timeout: 30_000 });
    await page.waitForSelector('text=resume to start wave 1');
    expect(await page.locator('tr.wave-0 td').nth(2).innerText()).toBe('1');
    expect(await page.locator('tr.wave-1 td').nth(1).innerText()).toBe('2');
    expect(await page.locator('tr.wave-1 td').nth(2).innerText()).toBe('0');
    expect(await page.locator('.actions button:has-text("pause")').count()).toBe(0);
    await shot('rollout');
    await page.click('button:has-text("approve next wave")');
    await page.waitForSelector('h1 .badge-succeeded', { timeout: 30_000 });
    expect(await page.locator('tr.wave-1 td').nth(2).innerText()).toBe('2');
    expect(await page.locator('.actions button').count()).toBe(0);
    await page.waitForSelector('text=rollout.awaiting_approval');

    // The fleet is at one version again.
    await page.click('text=Schema rollouts');
    await page.waitForSelector('text=all 5 tenants are at it.');
    expect(await page.locator('table.skew tr[data-version]').count()).toBe(1);
  });

  it('lists the reconciler’s findings and orphans, and an admin queues a pass and deletes orphans', async () => {
    // What a deleted tenant might leave behind: its secret and an alarm, tagged for this environment.
    const names = tenantResourceNames(prefix, ghost.slug);
    const tags = [
      { Key: 'managed-by', Value: 'silo' },
      { Key: 'silo:environment', Value: stack.env.SILO_ENVIRONMENT },
      { Key: 'silo:tenant-id', Value: ghost.id },
      { Key: 'silo:tenant-slug', Value: ghost.slug },
      { Key: 'silo:tier', Value: 'starter' },
    ];
    await aws.secretsManager.send(
      new CreateSecretCommand({ Name: names.masterSecretName, SecretString: '{}', Tags: tags }),
    );
    await aws.cloudWatch.send(
      new PutMetricAlarmCommand({
        AlarmName: names.alarmName('CPUUtilization'),
        Namespace: 'AWS/RDS',
        MetricName: 'CPUUtilization',
        Dimensions: [{ Name: 'DBInstanceIdentifier', Value: names.instanceIdentifier }],
        Statistic: 'Average',
        Period: 300,
        EvaluationPeriods: 3,
        Threshold: 90,
        ComparisonOperator: 'GreaterThanThreshold',
        Tags: tags,
      }),
    );
    await page.click('text=Reconciliation');
    await page.waitForSelector('h1:has-text("Reconciliation")');
    await page.click('button:has-text("Reconcile now")');
    await page.waitForSelector('text=Pass queued');
    await page.waitForSelector(`tr[data-orphan="${names.masterSecretName}"]`, { timeout: 30_000 });
    await page.waitForSelector(`tr[data-orphan="${names.alarmName('CPUUtilization')}"]`);
    expect(await page.locator(`tr[data-orphan="${names.masterSecretName}"]`).innerText()).toContain(
      ghost.slug,
    );
    // The fleet tenants made for the rollout have no RDS instance: critical findings on each.
    await page.waitForSelector(`table.findings tr:has-text("${fleet[0].slug}")`);
    expect(await page.locator('dl.last-pass').innerText()).toMatch(/Tenants checked\s+\d+/);
    await shot('reconciliation');

    await page.check(`tr[data-orphan="${names.masterSecretName}"] input[type=checkbox]`);
    await page.check(`tr[data-orphan="${names.alarmName('CPUUtilization')}"] input[type=checkbox]`);
    await page.click('button:has-text("Delete selected (2)")');
    await page.click('button:has-text("Yes, delete")');
    await page.waitForSelector(`tr[data-orphan="${names.masterSecretName}"] >> text=asked`);
    await page.waitForSelector(`tr[data-orphan="${names.alarmName('CPUUtilization')}"] >> text=asked`);
  });

  it('hides the admin buttons from an sre token, and sends a 401 back to sign-in', async () => {
    await signIn(['sre']);
    expect(await page.locator('header >> text=Onboard').count()).toBe(0);
    await page.click(`a:has-text("${slug}")`);
    await page.waitForSelector(`h1:has-text("${slug}")`);
    expect(await page.locator('button:has-text("Suspend")').count()).toBe(0);
    expect(await page.locator('button:has-text("Delete")').count()).toBe(0);
    expect(await page.locator('button:has-text("Move")').count()).toBe(0);

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
