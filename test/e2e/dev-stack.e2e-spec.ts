import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { quoteIdentifier } from '../../libs/core/src';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { removeTenantInstance } from '../support/local-tenant-instance';
import { builtEntry, httpStatus, isAlive, REPO_ROOT, SiloProcess } from '../support/silo-process';
import { testEnvironment, uniqueToken } from '../support/test-config';
import { databaseUrl, instanceAdminUrl, testServices } from '../support/test-services';

jest.setTimeout(180_000);

/** Every process in the session of `pid` (the dev script and all it started without setsid). */
function sessionPids(pid: number): number[] {
  const table = execFileSync('ps', ['-eo', 'pid=,sid='], { encoding: 'utf8' });
  return table
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter(([, sid]) => sid === pid)
    .map(([p]) => p);
}

// `npm run dev` as a newcomer runs it, driven the way a terminal does: wait for the banner,
// curl /readyz, press Ctrl-C (SIGINT to the foreground process group), look for leftovers.
describe('npm run dev', () => {
  const database = `silo_dev_e2e_${uniqueToken()}`;
  const slug = `dev-e2e-${uniqueToken()}`;
  let dev: SiloProcess | undefined;
  let emulatorPort: number | undefined;
  // The emulator's saved state goes here, never into the developer's .cache.
  const stateDir = mkdtempSync(join(tmpdir(), 'silo-dev-state-'));

  afterAll(async () => {
    dev?.kill();
    // The emulator runs in its own session; stop it even when the test failed half-way.
    if (emulatorPort)
      execFileSync('bash', [resolve(REPO_ROOT, 'scripts/aws-emulator.sh'), 'stop', String(emulatorPort)]);
    const admin = new Client({ connectionString: testServices.postgresAdminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
    await admin.end();
    // .env.example's prefix: the local backend made database silo-<slug> and its roles.
    await removeTenantInstance('silo', slug);
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** `npm run --silent token -- …` with the stack's configuration. */
  async function token(env: Record<string, string>, args: string[]): Promise<string> {
    const cli = SiloProcess.node(builtEntry('libs/auth/src/cli/token.cli.js'), env, args);
    expect(await cli.exitWithin(15_000)).toEqual({ code: 0, signal: null });
    return cli.stdout.trim();
  }

  it('brings up the API, the worker and the example app, serves the README walk-through, and Ctrl-C leaves no process behind', async () => {
    const apiPort = await freePort();
    const examplePort = await freePort();
    emulatorPort = await freePort();
    const env = {
      ...testEnvironment({
        PORT: String(apiPort),
        EXAMPLE_APP_PORT: String(examplePort),
        AWS_ENDPOINT_URL: `http://127.0.0.1:${emulatorPort}`,
        // A database that does not exist yet: dev creates and migrates it.
        DATABASE_URL: databaseUrl(testServices.postgresAdminUrl, database),
        // A server of the user's own: dev uses it and starts no clusters.
        LOCAL_INSTANCE_ADMIN_URL: instanceAdminUrl(),
        LOG_LEVEL: 'info',
        SILO_EMULATOR_STATE_DIR: stateDir,
      }),
      // The documented defaults, read directly so that the test never writes a .env.
      SILO_ENV_FILE: resolve(REPO_ROOT, '.env.example'),
    };
    dev = SiloProcess.group('bash', ['scripts/dev.sh', '--no-build'], env);
    const readyz = `http://127.0.0.1:${apiPort}/readyz`;
    await dev.waitFor(() => dev!.stderr.includes('dev: ready:'), 'the ready banner', 150_000);
    expect(dev.stderr).not.toContain("the local instance backend's clusters");
    expect(await httpStatus(readyz)).toBe(200);
    const exampleHealthz = `http://127.0.0.1:${examplePort}/healthz`;
    expect(await httpStatus(exampleHealthz)).toBe(200);
    await dev.waitFor(() => dev!.logLines().some((l) => l.msg === 'worker ready'), '"worker ready"');
    expect(await httpStatus(`http://127.0.0.1:${emulatorPort}/moto-api/data.json`)).toBe(200);

    // The walk-through: a tenant created through the API, ACTIVE, then notes in its own database
    // through the example app with the token `npm run token -- --tenant <slug>` prints.
    const api = `http://127.0.0.1:${apiPort}`;
    const ops = { authorization: `Bearer ${await token(env, ['--role', 'ops'])}` };
    const created = await fetch(`${api}/v1/tenants`, {
      method: 'POST',
      headers: { ...ops, 'content-type': 'application/json' },
      body: JSON.stringify({ slug, name: 'Dev walk-through', tier: 'starter' }),
    });
    expect(created.status).toBe(202);
    await eventually(async () => {
      const tenant = (await (await fetch(`${api}/v1/tenants/${slug}`, { headers: ops })).json()) as {
        status: string;
      };
      expect(tenant.status).toBe('ACTIVE');
    }, 60_000);
    // Its alarms notify the SNS topic dev made in the emulator, on ALARM and on OK.
    const { MetricAlarms } = await new CloudWatchClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${emulatorPort}`,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }).send(new DescribeAlarmsCommand({ AlarmNamePrefix: `silo-${slug}-` }));
    expect(MetricAlarms).toHaveLength(4);
    for (const alarm of MetricAlarms!) {
      expect([alarm.AlarmActions, alarm.OKActions]).toEqual([
        ['arn:aws:sns:us-east-1:123456789012:silo-alarms'],
        ['arn:aws:sns:us-east-1:123456789012:silo-alarms'],
      ]);
    }
    const tenantAuth = { authorization: `Bearer ${await token(env, ['--tenant', slug])}` };
    const notes = `http://127.0.0.1:${examplePort}/notes`;
    const posted = await fetch(notes, {
      method: 'POST',
      headers: { ...tenantAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'hello from the dev stack' }),
    });
    expect(posted.status).toBe(201);
    const listed = (await (await fetch(notes, { headers: tenantAuth })).json()) as {
      items: { text: string }[];
    };
    expect(listed.items.map((n) => n.text)).toEqual(['hello from the dev stack']);

    const pidFile = resolve(REPO_ROOT, `.cache/emulator/moto-${emulatorPort}.pid`);
    const started = [...sessionPids(dev.pid), Number(readFileSync(pidFile, 'utf8'))];
    expect(started.length).toBeGreaterThanOrEqual(5); // bash → node dev.mjs → api, worker, example app; + moto

    process.kill(-dev.pid, 'SIGINT');
    expect(await dev.exitWithin(60_000)).toEqual({ code: 0, signal: null });

    expect(started.filter(isAlive)).toEqual([]);
    expect(await httpStatus(readyz)).toBeUndefined();
    expect(await httpStatus(exampleHealthz)).toBeUndefined();
    expect(await httpStatus(`http://127.0.0.1:${emulatorPort}/moto-api/data.json`)).toBeUndefined();
    expect(existsSync(pidFile)).toBe(false);
  });

  it('exits non-zero naming REDIS_URL when REDIS_URL is nonsense, starting nothing', async () => {
    const emulatorPort = await freePort();
    const bad = SiloProcess.group('bash', ['scripts/dev.sh', '--no-build'], {
      ...testEnvironment({
        REDIS_URL: 'nonsense',
        AWS_ENDPOINT_URL: `http://127.0.0.1:${emulatorPort}`,
        SILO_EMULATOR_STATE_DIR: stateDir,
      }),
      SILO_ENV_FILE: resolve(REPO_ROOT, '.env.example'),
    });
    const exit = await bad.exitWithin(60_000);
    expect(exit.code).not.toBe(0);
    expect(bad.stderr).toContain('REDIS_URL: must be a URL starting with redis:// or rediss://');
    expect(await httpStatus(`http://127.0.0.1:${emulatorPort}/moto-api/data.json`)).toBeUndefined();
  });
});
