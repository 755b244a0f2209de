import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { AwsClients } from '../../libs/aws/src';
import { loadConfig } from '../../libs/config/src';
import { tenantResourceNames } from '../../libs/core/src';
import { RESTORE_COPY_STEPS, RESTORE_REPLACE_STEPS } from '../../libs/fleet/src';
import { dataPlaneOptionsFromEnv, TenantDataPlane } from '../../libs/tenant-router/src';
import { NoteEntity } from '../../libs/tenant-schema/src';
import { builtInTierProfilesFile } from '../support/built-in-tier-profiles';
import { tenantAppEnvironment } from '../support/data-plane-login';
import { eventually } from '../support/eventually';
import { removeTenantInstancesUnder } from '../support/local-tenant-instance';
import { builtEntry, SiloProcess } from '../support/silo-process';
import { SiloStack, type TenantBody } from '../support/silo-stack';
import { createOwnDatabase, dropDatabase } from '../support/test-databases';
import { fastLocalSagaEnvironment, uniqueToken } from '../support/test-config';
import { takeFreshBaseBackup } from '../support/fresh-base-backup';
import { hostAdminUrl, instanceAdminUrl } from '../support/test-services';

jest.setTimeout(600_000);

const WORKER = 'apps/provisioning-worker/src/main.js';
const prefix = `re${uniqueToken(3)}`;
const ADMIN = { sub: 'restore-admin', roles: ['admin' as const] };
const OPS = { sub: 'restore-ops', roles: ['ops' as const] };
const SRE = { sub: 'restore-sre', roles: ['sre' as const] };

interface RestoreBody extends TenantBody {
  change: {
    kind: string;
    run: number;
    status: string;
    error: { code: string; message: string; step: string } | null;
  } | null;
}
interface CopyBody {
  run: number;
  status: string;
  readerSecretName: string;
}

type Secret = { host: string; port: number; dbname: string; username: string; password: string };

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Restores on the built stack against the local backend's clusters (WAL archived, base backup at
 * start): a tenant's rows of a noted time come back as a copy, read through the router's explicit
 * lease, with the worker SIGKILLed once in each step of the restore.
 */
describe('restoring a tenant as a copy, and SIGKILL in every step', () => {
  let stack: SiloStack;
  let aws: AwsClients;
  let dataPlane: TenantDataPlane;
  const workers: SiloProcess[] = [];
  let database: { name: string; url: string } | undefined;

  beforeAll(async () => {
    database = await createOwnDatabase('restores_e2e');
    stack = await SiloStack.start({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
      ALARM_ACTIONS: 'none',
      WORKER_LOCK_DURATION_MS: '1500',
      LOG_LEVEL: 'info',
    });
    aws = new AwsClients(loadConfig({ env: stack.env, envFile: false }));
    dataPlane = new TenantDataPlane({
      ...dataPlaneOptionsFromEnv(await tenantAppEnvironment(stack.env)),
      entities: [NoteEntity],
    });
  });

  afterAll(async () => {
    await dataPlane?.close();
    for (const w of workers) w.kill();
    await stack?.stop();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  }, 120_000);

  const secret = async (name: string): Promise<Secret> => {
    const { SecretString } = await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: name }));
    return JSON.parse(SecretString!) as Secret;
  };
  const withTenantLogin = async <T>(slug: string, work: (c: Client) => Promise<T>): Promise<T> => {
    const s = await secret(tenantResourceNames(prefix, slug).appSecretName);
    const client = new Client({
      host: s.host,
      port: s.port,
      database: s.dbname,
      user: s.username,
      password: s.password,
    });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  const startWorker = (failpoints?: string) => {
    const w = SiloProcess.node(builtEntry(WORKER), {
      ...stack.env,
      ...(failpoints ? { SILO_FAILPOINTS: failpoints } : {}),
    });
    workers.push(w);
    return w;
  };
  const notesOf = (tenantId: string) =>
    dataPlane.transaction(tenantId, async (manager) =>
      (await manager.getRepository(NoteEntity).find()).map((n) => n.text).sort(),
    );
  const restoreEnded = (id: string, run: number) =>
    eventually(
      async () => {
        const { body } = await stack.call<RestoreBody>('GET', `/v1/tenants/${id}`, OPS);
        expect(body.change).toMatchObject({ kind: 'restore', run });
        if (!['SUCCEEDED', 'FAILED'].includes(body.change!.status))
          throw new Error(`restore ${run} is ${body.change!.status}`);
        return body.change!;
      },
      120_000,
      200,
    );

  it('brings back exactly the rows of a noted time as a copy read through the router, with a worker killed once in each step', async () => {
    const created = await stack.call<RestoreBody>('POST', '/v1/tenants', OPS, {
      slug: `oops-${uniqueToken(2)}`,
      name: 'oops',
      tier: 'enterprise',
    });
    expect(created.status).toBe(202);
    const tenant = await stack.waitForStatus(created.body.id, 'ACTIVE', OPS, 90_000);
    // The restores replay WAL from the newest base backup before the noted time: this one, not the run's start.
    await takeFreshBaseBackup(instanceAdminUrl());
    await withTenantLogin(tenant.slug, (c) =>
      c.query(`INSERT INTO notes (text) SELECT 'kept ' || g FROM generate_series(1, 40) g`),
    );
    await pause(1100);
    const noted = new Date().toISOString();
    await pause(1100);
    await withTenantLogin(tenant.slug, async (c) => {
      await c.query(`INSERT INTO notes (text) SELECT 'later ' || g FROM generate_series(1, 10) g`);
      await c.query(`DELETE FROM notes WHERE text LIKE 'kept 1_'`);
    });
    // At the noted time: all forty, none of the later ten, none of the deletions yet.
    const expected = Array.from({ length: 40 }, (_, i) => `kept ${i + 1}`).sort();
    const liveBefore = await withTenantLogin(
      tenant.slug,
      async (c) => (await c.query('SELECT count(*)::int AS n FROM notes')).rows,
    );

    // The stack's worker goes; each restore runs under a worker armed to die at one step.
    stack.worker.child.kill('SIGKILL');
    await stack.worker.exited;
    for (const step of RESTORE_COPY_STEPS) {
      const doomed = startWorker(`restore:${step}`);
      await doomed.waitFor(() => doomed.stdout.includes('"msg":"taking provisioning jobs"'), 'the worker');
      const asked = await stack.call<RestoreBody>('POST', `/v1/tenants/${tenant.id}/restores`, ADMIN, {
        source: { pointInTime: noted },
        mode: 'copy',
      });
      expect({ step, status: asked.status }).toEqual({ step, status: 202 });
      const run = asked.body.change!.run;
      expect({ step, exit: await doomed.exitWithin(120_000) }).toEqual({
        step,
        exit: { code: null, signal: 'SIGKILL' },
      });
      const healthy = startWorker();
      const ended = await restoreEnded(tenant.id, run);
      expect({ step, status: ended.status, error: ended.error }).toEqual({
        step,
        status: 'SUCCEEDED',
        error: null,
      });

      // Exactly the rows of the noted time, through the router's lease of the copy.
      const restored = await dataPlane.readRestoreCopy(tenant.id, run, async (manager) =>
        (await manager.getRepository(NoteEntity).find()).map((n) => n.text).sort(),
      );
      expect({ step, restored }).toEqual({ step, restored: expected });
      const { body: copies } = await stack.call<{ items: CopyBody[] }>(
        'GET',
        `/v1/tenants/${tenant.id}/restores`,
        SRE,
      );
      expect(copies.items[0]).toMatchObject({ run, status: 'AVAILABLE' });
      // Removed on request: the router refuses it from then on.
      expect((await stack.call('DELETE', `/v1/tenants/${tenant.id}/restores/${run}`, ADMIN)).status).toBe(
        202,
      );
      await eventually(
        async () => {
          const { body } = await stack.call<{ items: CopyBody[] }>(
            'GET',
            `/v1/tenants/${tenant.id}/restores`,
            SRE,
          );
          expect(body.items.find((c) => c.run === run)?.status).toBe('REMOVED');
        },
        60_000,
        200,
      );
      await eventually(
        () =>
          expect(
            dataPlane.readRestoreCopy(tenant.id, run, () => Promise.resolve(null)),
          ).rejects.toMatchObject({
            code: expect.stringMatching(/^RESTORE_COPY_(EXPIRED|NOT_FOUND)$/),
          }),
        30_000,
        200,
      );
      healthy.child.kill('SIGTERM');
      await healthy.exitWithin(15_000);
    }
    // The live tenant kept every row it had.
    expect(
      await withTenantLogin(
        tenant.slug,
        async (c) => (await c.query('SELECT count(*)::int AS n FROM notes')).rows,
      ),
    ).toEqual(liveBefore);
  });

  it('restores in place: the application sees the rows of the noted time, what it had is a copy, a neighbour keeps its rows, with a worker killed once in each step and between the renames', async () => {
    const make = async (label: string) => {
      const created = await stack.call<RestoreBody>('POST', '/v1/tenants', OPS, {
        slug: `${label}-${uniqueToken(2)}`,
        name: label,
        tier: 'enterprise',
      });
      expect(created.status).toBe(202);
      // Not stack.waitForStatus: the stack's own worker is gone.
      return eventually(
        async () => {
          const { body } = await stack.call<RestoreBody>('GET', `/v1/tenants/${created.body.id}`, OPS);
          expect(body.status).toBe('ACTIVE');
          return body;
        },
        90_000,
        200,
      );
    };
    if (stack.worker.child.exitCode === null && stack.worker.child.signalCode === null) {
      stack.worker.child.kill('SIGKILL');
      await stack.worker.exited;
    }
    const setUp = startWorker();
    const tenant = await make('undo');
    const neighbour = await make('beside');
    await takeFreshBaseBackup(instanceAdminUrl());
    const write = (tenantId: string, texts: string[]) =>
      dataPlane.transaction(tenantId, (m) =>
        m.getRepository(NoteEntity).insert(texts.map((text) => ({ text }))),
      );
    await write(
      tenant.id,
      Array.from({ length: 30 }, (_, i) => `kept ${i + 1}`),
    );
    await write(
      neighbour.id,
      Array.from({ length: 12 }, (_, i) => `next door ${i + 1}`),
    );
    const neighbourRows = await notesOf(neighbour.id);
    setUp.child.kill('SIGTERM');
    await setUp.exitWithin(15_000);

    for (const step of [...RESTORE_REPLACE_STEPS, 'live-renamed']) {
      // After a restore in place the instance's restorable window begins at its switch (the
      // restored instance's own backups): each round notes a time after the last one's.
      // The router learns of the last switch by its signal; until then a lease may meet the old data.
      await eventually(() => write(tenant.id, [`noted at ${step}`]), 30_000, 200);
      const expected = await notesOf(tenant.id);
      await pause(1100);
      const noted = new Date().toISOString();
      await pause(1100);
      // Written and deleted after the noted time: the restore undoes both, its copy keeps them.
      await write(tenant.id, [`after ${step}`]);
      await dataPlane.transaction(tenant.id, (m) =>
        m.getRepository(NoteEntity).delete({ text: `noted at ${step}` }),
      );
      const before = await notesOf(tenant.id);
      const doomed = startWorker(`restore:${step}`);
      await doomed.waitFor(() => doomed.stdout.includes('"msg":"taking provisioning jobs"'), 'the worker');
      const asked = await stack.call<RestoreBody>('POST', `/v1/tenants/${tenant.id}/restores`, ADMIN, {
        source: { pointInTime: noted },
        mode: 'replace',
      });
      expect({ step, status: asked.status }).toEqual({ step, status: 202 });
      const run = asked.body.change!.run;
      expect({ step, exit: await doomed.exitWithin(120_000) }).toEqual({
        step,
        exit: { code: null, signal: 'SIGKILL' },
      });
      const healthy = startWorker();
      const ended = await restoreEnded(tenant.id, run);
      expect({ step, status: ended.status, error: ended.error }).toEqual({
        step,
        status: 'SUCCEEDED',
        error: null,
      });

      // The application, through its ordinary lease, sees the noted time's rows; the copy what it had.
      expect({ step, rows: await eventually(() => notesOf(tenant.id), 30_000, 200) }).toEqual({
        step,
        rows: expected,
      });
      const copied = await dataPlane.readRestoreCopy(tenant.id, run, async (manager) =>
        (await manager.getRepository(NoteEntity).find()).map((n) => n.text).sort(),
      );
      expect({ step, copied }).toEqual({ step, copied: before });
      expect({ step, neighbour: await notesOf(neighbour.id) }).toEqual({ step, neighbour: neighbourRows });
      expect((await stack.call('DELETE', `/v1/tenants/${tenant.id}/restores/${run}`, ADMIN)).status).toBe(
        202,
      );
      healthy.child.kill('SIGTERM');
      await healthy.exitWithin(15_000);
    }
  });

  it.each([
    ['starter', 'pool'],
    ['pro', 'schema'],
  ] as const)(
    'restores a %s tenant (%s placement) as a copy, then in place with the worker killed mid-swap: the application sees the noted rows, the copy what it had, its neighbour on the host every row',
    async (tier, _placement) => {
      const make = async (label: string) => {
        const created = await stack.call<RestoreBody>('POST', '/v1/tenants', OPS, {
          slug: `${label}-${uniqueToken(2)}`,
          name: label,
          tier,
        });
        expect(created.status).toBe(202);
        return eventually(
          async () => {
            const { body } = await stack.call<RestoreBody & { host: { id: string } | null }>(
              'GET',
              `/v1/tenants/${created.body.id}`,
              OPS,
            );
            expect(body.status).toBe('ACTIVE');
            return body;
          },
          90_000,
          200,
        );
      };
      for (const w of workers)
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      if (stack.worker.child.exitCode === null && stack.worker.child.signalCode === null) {
        stack.worker.child.kill('SIGKILL');
        await stack.worker.exited;
      }
      const setUp = startWorker();
      const tenant = await make(`${tier}-undo`);
      const neighbour = await make(`${tier}-beside`);
      expect(neighbour.host?.id).toBe(tenant.host?.id);
      const write = (tenantId: string, texts: string[]) =>
        dataPlane.transaction(tenantId, (m) =>
          m.getRepository(NoteEntity).insert(texts.map((text) => ({ text }))),
        );
      await write(
        tenant.id,
        Array.from({ length: 15 }, (_, i) => `kept ${i + 1}`),
      );
      await write(
        neighbour.id,
        Array.from({ length: 6 }, (_, i) => `next door ${i + 1}`),
      );
      await takeFreshBaseBackup(hostAdminUrl());
      const expected = await notesOf(tenant.id);
      const neighbourRows = await notesOf(neighbour.id);
      await pause(1100);
      const noted = new Date().toISOString();
      await pause(1100);
      await write(tenant.id, ['later']);
      await dataPlane.transaction(tenant.id, (m) => m.getRepository(NoteEntity).delete({ text: 'kept 4' }));
      const before = await notesOf(tenant.id);

      // As a copy: exactly the noted rows, read through the router's lease of the copy.
      const asked = await stack.call<RestoreBody>('POST', `/v1/tenants/${tenant.id}/restores`, ADMIN, {
        source: { pointInTime: noted },
        mode: 'copy',
      });
      expect(asked.status).toBe(202);
      const copyRun = asked.body.change!.run;
      expect((await restoreEnded(tenant.id, copyRun)).status).toBe('SUCCEEDED');
      const read = (run: number) =>
        dataPlane.readRestoreCopy(tenant.id, run, async (manager) =>
          (await manager.getRepository(NoteEntity).find()).map((n) => n.text).sort(),
        );
      expect(await read(copyRun)).toEqual(expected);
      setUp.child.kill('SIGTERM');
      await setUp.exitWithin(15_000);

      // In place, under a worker killed once the copy holds the live rows and before the live host changed.
      const doomed = startWorker('restore:swap-copied');
      await doomed.waitFor(() => doomed.stdout.includes('"msg":"taking provisioning jobs"'), 'the worker');
      const inPlace = await stack.call<RestoreBody>('POST', `/v1/tenants/${tenant.id}/restores`, ADMIN, {
        source: { pointInTime: noted },
        mode: 'replace',
      });
      expect(inPlace.status).toBe(202);
      const run = inPlace.body.change!.run;
      expect(await doomed.exitWithin(120_000)).toEqual({ code: null, signal: 'SIGKILL' });
      const healthy = startWorker();
      const ended = await restoreEnded(tenant.id, run);
      expect([ended.status, ended.error]).toEqual(['SUCCEEDED', null]);
      expect(await eventually(() => notesOf(tenant.id), 30_000, 200)).toEqual(expected);
      expect(await read(run)).toEqual(before);
      expect(await notesOf(neighbour.id)).toEqual(neighbourRows);
      await write(tenant.id, ['after the restore']);
      expect(await notesOf(tenant.id)).toContain('after the restore');
      healthy.child.kill('SIGTERM');
      await healthy.exitWithin(15_000);
    },
  );
});
