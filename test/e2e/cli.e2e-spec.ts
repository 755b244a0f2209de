import { mintDevToken, type Role } from '../../libs/auth/src';
import { eventually } from '../support/eventually';
import { takeFreshBaseBackup } from '../support/fresh-base-backup';
import { removeTenantInstancesUnder } from '../support/local-tenant-instance';
import { builtEntry, SiloProcess } from '../support/silo-process';
import { SiloStack } from '../support/silo-stack';
import { fastLocalSagaEnvironment, uniqueToken } from '../support/test-config';
import { createOwnDatabase, dropDatabase } from '../support/test-databases';
import { instanceAdminUrl } from '../support/test-services';

jest.setTimeout(360_000);

const CLI = 'apps/cli/src/main.js';
const prefix = `cl${uniqueToken(3)}`;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// The `silo` command as a user runs it (the built entry point, npx silo from a clone), against
// the API and the worker as processes: every subcommand, --watch to the end, JSON output,
// restores and snapshots, and the exit codes (0 ok, 1 failed, 2 usage, 3 auth) with the problem's
// title and detail.
describe('the silo CLI against the stack', () => {
  let stack: SiloStack;
  let admin: string;
  const slug = `cli-${uniqueToken(2)}`;

  let database: { name: string; url: string } | undefined;

  beforeAll(async () => {
    // A control plane of its own: the rollout this test starts must see its tenant only.
    database = await createOwnDatabase('cli');
    stack = await SiloStack.start({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      CREDENTIAL_ROTATION_DRAIN_SECONDS: '0',
      LOG_LEVEL: 'info',
    });
    admin = await token(['admin']);
  });

  afterAll(async () => {
    await stack?.stop();
    // The tenant's instance and its restore copy's.
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  function token(roles: Role[]): Promise<string> {
    return mintDevToken({
      secret: stack.env.AUTH_JWT_SECRET,
      sub: `cli-${roles.join('-')}`,
      roles,
      issuer: stack.env.AUTH_ISSUER,
      audience: stack.env.AUTH_AUDIENCE,
    });
  }

  async function silo(args: string[], env: Record<string, string> = {}): Promise<Run> {
    const p = SiloProcess.node(
      builtEntry(CLI),
      { SILO_API_URL: stack.base, SILO_TOKEN: admin, SILO_WATCH_POLL_MS: '200', ...env },
      args,
    );
    const { code } = await p.exitWithin(120_000);
    return { code, stdout: p.stdout, stderr: p.stderr };
  }
  const json = <T>(run: Run): T => {
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(run.stdout) as T;
  };

  it('refuses bad usage with exit 2, naming the argument', async () => {
    const cases: [string[], RegExp][] = [
      [[], /usage: silo/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['tenants', 'list', '--bogus'], /--bogus/],
      [['tenants', 'show'], /needs an id or slug/],
      [
        ['tenants', 'create', '--slug', 'x1', '--name', 'X', '--tier', 'gold'],
        /--tier must be one of starter, pro, enterprise, not "gold"/,
      ],
      [['tenants', 'create', '--name', 'X', '--tier', 'pro'], /--slug is required/],
      [['tenants', 'list', '--output', 'yaml'], /--output must be table or json/],
      [['alarms', '--state', 'FIRING'], /--state must be one of/],
      [['rollouts', 'start', '--canary', 'two'], /--canary must be a whole number/],
    ];
    for (const [args, message] of cases) {
      const run = await silo(args);
      expect({ args, code: run.code, named: message.test(run.stderr) }).toEqual({
        args,
        code: 2,
        named: true,
      });
    }
  });

  it('exits 3 without a token, with a bad one, and with a role the route does not allow', async () => {
    expect((await silo(['tenants', 'list'], { SILO_TOKEN: '' })).code).toBe(3);
    const bad = await silo(['tenants', 'list'], { SILO_TOKEN: 'not-a-token' });
    expect([bad.code, /Unauthorized/.test(bad.stderr)]).toEqual([3, true]);
    const sre = await silo(['tenants', 'create', '--slug', 'cli-nope', '--name', 'N', '--tier', 'pro'], {
      SILO_TOKEN: await token(['sre']),
    });
    expect([sre.code, /Forbidden/.test(sre.stderr)]).toEqual([3, true]);
  });

  it('creates a tenant and follows it to ACTIVE, then lists, shows, suspends, resumes, changes tier, rotates, restores a copy, deletes', async () => {
    const created = await silo([
      'tenants',
      'create',
      '--slug',
      slug,
      '--name',
      'CLI Corp',
      '--tier',
      'starter',
      '--watch',
      '--output',
      'json',
    ]);
    const tenant = json<{ id: string; status: string }>(created);
    expect(tenant.status).toBe('ACTIVE');
    expect(created.stderr).toMatch(new RegExp(`${slug}: PROVISIONING .*steps`));

    const list = await silo(['tenants', 'list', '--tier', 'starter']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^SLUG\s+NAME\s+TIER\s+REGION\s+STATUS/);
    expect(list.stdout).toContain(slug);
    expect(
      json<{ items: { slug: string }[] }>(await silo(['tenants', 'list', '--output', 'json'])).items.map(
        (t) => t.slug,
      ),
    ).toContain(slug);
    const shown = await silo(['tenants', 'show', slug]);
    expect(shown.stdout).toContain(`${slug} (${tenant.id})`);

    expect(
      json<{ status: string }>(await silo(['tenants', 'suspend', slug, '--output', 'json'])).status,
    ).toBe('SUSPENDED');
    expect(
      json<{ status: string }>(await silo(['tenants', 'resume', tenant.id, '--output', 'json'])).status,
    ).toBe('ACTIVE');

    const changed = json<{ tier: string; change: { status: string } }>(
      await silo(['tenants', 'change-tier', slug, '--tier', 'pro', '--watch', '--output', 'json']),
    );
    expect([changed.tier, changed.change.status]).toEqual(['pro', 'SUCCEEDED']);
    const rotated = json<{ change: { kind: string; status: string } }>(
      await silo(['tenants', 'rotate', slug, '--which', 'app', '--watch', '--output', 'json']),
    );
    expect(rotated.change).toMatchObject({ kind: 'rotation', status: 'SUCCEEDED' });

    // Every tier is an instance here: a copy of the tenant as of a noted time, given in the local
    // form in UTC (the local backend replays its WAL from a fresh base backup), then removed.
    await takeFreshBaseBackup(instanceAdminUrl());
    await pause(1100);
    const noted = new Date(Math.floor(Date.now() / 1000) * 1000);
    await pause(1100);
    const local = noted.toISOString().slice(0, 19).replace('T', ' ');
    expect(
      json<{ items: { type: string }[] }>(await silo(['tenants', 'snapshots', slug, '--output', 'json']))
        .items,
    ).toEqual(expect.any(Array));
    const restorable = await silo(['tenants', 'restorable', slug, '--tz', 'UTC']);
    expect([restorable.code, restorable.stdout]).toEqual([
      0,
      expect.stringMatching(new RegExp(`^${slug}: (point in time from|no point-in-time window)`)),
    ]);
    const restored = await silo(['tenants', 'restore', slug, '--to', local, '--tz', 'UTC', '--watch']);
    expect([restored.code, restored.stderr.split('\n')[0]]).toEqual([
      0,
      `${slug}: restore as of ${noted.toISOString().replace('.000Z', 'Z')} ("${local}" in UTC), mode copy`,
    ]);
    expect(restored.stdout).toMatch(/\(restore pointInTime \S+ → copy\): SUCCEEDED/);
    const run = Number(/^restore copy (\d+) .*: AVAILABLE$/m.exec(restored.stdout)?.[1]);
    const copies = json<{ items: { run: number; status: string; readerSecretName: string }[] }>(
      await silo(['tenants', 'restores', slug, '--output', 'json']),
    );
    expect(copies.items[0]).toMatchObject({
      run,
      status: 'AVAILABLE',
      readerSecretName: `${prefix}/restore-${slug}-${run}/app`,
    });
    const removing = await silo(['tenants', 'restore-remove', slug, String(run)]);
    expect([removing.code, removing.stdout]).toEqual([0, expect.stringContaining('its removal runs now')]);
    await eventually(async () => {
      const after = json<{ items: { run: number; status: string }[] }>(
        await silo(['tenants', 'restores', slug, '--output', 'json']),
      );
      expect(after.items.find((c) => c.run === run)?.status).toBe('REMOVED');
    }, 60_000);

    // An operation the API refuses: exit 1 with the problem's title and detail.
    const retry = await silo(['tenants', 'retry', slug]);
    expect([retry.code, retry.stderr]).toEqual([1, expect.stringMatching(/^silo: Conflict: .*ACTIVE/)]);

    // The API reads CloudWatch every 15 s in the background: the tenant's alarms show from the next read.
    await eventually(
      async () => expect((await silo(['alarms', '--state', 'OK'])).stdout).toContain(slug),
      30_000,
    );
    expect(json<{ items: unknown[] }>(await silo(['alarms', '--output', 'json'])).items).toEqual([]);
    expect((await silo(['reconcile'])).stdout).toMatch(/reconcile pass queued \(job /);

    const rollout = json<{ id: string; status: string }>(
      await silo(['rollouts', 'start', '--watch', '--output', 'json']),
    );
    expect(rollout.status).toBe('SUCCEEDED');
    expect((await silo(['rollouts', 'list'])).stdout).toContain(rollout.id);
    expect(json<{ id: string }>(await silo(['rollouts', 'show', rollout.id, '--output', 'json'])).id).toBe(
      rollout.id,
    );
    for (const action of ['pause', 'resume', 'abort']) {
      const refused = await silo(['rollouts', action, rollout.id]);
      expect([action, refused.code, /^silo: Conflict/.test(refused.stderr)]).toEqual([action, 1, true]);
    }
    // The tenant was provisioned at the newest version: the rollout skipped it.
    expect((await silo(['rollouts', 'show', rollout.id])).stdout).toContain(
      'skipped at start: 1 already at or past the target',
    );
    const skip = await silo(['rollouts', 'skip', rollout.id, slug, '--reason', 'no longer needed']);
    expect([skip.code, /^silo: Conflict: .*SUCCEEDED/.test(skip.stderr)]).toEqual([1, true]);
    expect((await silo(['rollouts', 'skip', rollout.id, slug])).code).toBe(2);
    const excluded = await silo(['rollouts', 'start', '--exclude', `${slug},cli-no-such`]);
    expect([excluded.code, excluded.stderr]).toEqual([1, expect.stringMatching(/^silo: .*: cli-no-such\n$/)]);

    const deleted = await silo(['tenants', 'delete', slug, '--confirm', slug, '--watch', '--output', 'json']);
    expect(json<{ status: string }>(deleted).status).toBe('DELETED');
    const wrong = await silo(['tenants', 'delete', slug, '--confirm', 'not-it']);
    expect(wrong.code).toBe(1);
  });
});
