import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AwsClients } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { TenantChangeEntity, TenantEntity } from '@silo/control-plane-db';
import { quoteIdentifier, tenantResourceNames } from '@silo/core';
import {
  ChangeStore,
  RECONCILER_FLEET,
  Reconciler,
  RotationSaga,
  rotationSteps,
  SAGA_DEPS,
  TenantChanges,
  TenantOnboarding,
  type SagaOutcome,
  type StepDeps,
} from '@silo/fleet';
import { bootstrapAppRole } from '@silo/tenant-schema';
import { Client } from 'pg';
import pino from 'pino';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstance } from '../../../test/support/local-tenant-instance';
import { loginRefusal } from '../../../test/support/password-login';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { tenantResource } from '../src/tenants/tenant.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(120_000);

const prefix = `rt${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'rotation-it' };
const log = pino({ level: 'silent' });

interface Secret {
  username: string;
  password: string;
}

/** A simulated crash: thrown where a step would be recorded done, after its work. */
class Crash extends Error {}

describe('credential rotation of a live tenant (POST /v1/tenants/{id}/rotate-credentials)', () => {
  let database: { name: string; url: string };
  let config: SiloConfig;
  let api: ApiHarness;
  let worker: INestApplicationContext | undefined;
  let ds: DataSource;
  let aws: AwsClients;
  const slugs: string[] = [];

  beforeAll(async () => {
    database = await createOwnDatabase('credential_rotation');
    config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      RECONCILE_INTERVAL_SECONDS: '3600',
      CREDENTIAL_ROTATION_DRAIN_SECONDS: '0',
    });
    aws = new AwsClients(config);
    api = await startApi(config);
    ds = api.app.get(DataSource);
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
  });

  afterAll(async () => {
    await api?.close();
    await worker?.close();
    aws?.onApplicationShutdown();
    for (const slug of slugs) await removeTenantInstance(prefix, slug);
    if (database) await dropDatabase(database.name);
  });

  const provision = async (label: string) => {
    const { tenant } = await worker!
      .get(TenantOnboarding)
      .createTenant({ slug: `${label}-${uniqueToken(2)}`, name: label, tier: 'starter' }, CTX);
    slugs.push(tenant.slug);
    await eventually(async () => {
      expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).status).toBe('ACTIVE');
    }, 60_000);
    return tenant;
  };
  const secret = async (name: string, stage = 'AWSCURRENT'): Promise<Secret> => {
    const out = await aws.secretsManager.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: stage }),
    );
    return JSON.parse(out.SecretString!) as Secret;
  };
  const versions = async (name: string) =>
    (await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
  const rotate = async (idOrSlug: string, body: object, roles: ('admin' | 'ops')[] = ['admin']) =>
    request(api.app.getHttpServer())
      .post(`/v1/tenants/${idOrSlug}/rotate-credentials`)
      .set('authorization', await api.auth(roles, 'rotation-admin'))
      .send(body);
  const settled = (tenantId: string, run: number) =>
    eventually(async () => {
      const change = await ds.getRepository(TenantChangeEntity).findOneByOrFail({ tenantId, run });
      expect(['SUCCEEDED', 'FAILED']).toContain(change.status);
      return change;
    }, 60_000);
  const role = async (name: string) => {
    const admin = new Client({ connectionString: instanceAdminUrl() });
    await admin.connect();
    try {
      const { rows } = await admin.query<{
        rolcanlogin: boolean;
        has_password: boolean;
        members_of: string[];
      }>(
        `SELECT r.rolcanlogin, a.rolpassword IS NOT NULL AS has_password,
                ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                       WHERE m.member = r.oid)::text[] AS members_of
           FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname = $1`,
        [name],
      );
      return rows[0];
    } finally {
      await admin.end();
    }
  };
  const asAdmin = async (sql: string) => {
    const admin = new Client({ connectionString: instanceAdminUrl() });
    await admin.connect();
    try {
      await admin.query(sql);
    } finally {
      await admin.end();
    }
  };
  const sessions: Client[] = [];
  afterAll(async () => {
    for (const session of sessions) await session.end().catch(() => undefined);
  });
  /** A session left open in the tenant database, as a leaked password would keep one. */
  const openSession = async (tenant: TenantEntity, creds: Secret) => {
    const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    const client = new Client({
      host: row.dbEndpointHost!,
      port: row.dbEndpointPort!,
      database: row.dbName!,
      user: creds.username,
      password: creds.password,
    });
    // Terminated by the server while idle: the next query fails; the event must not crash the test.
    client.on('error', () => undefined);
    sessions.push(client);
    await client.connect();
    return client;
  };
  /** Logs in as the app secret's user and writes and reads a note: the rights the data plane needs. */
  const useAppDatabase = async (tenant: TenantEntity, creds: Secret) => {
    const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    const client = new Client({
      host: row.dbEndpointHost!,
      port: row.dbEndpointPort!,
      database: row.dbName!,
      user: creds.username,
      password: creds.password,
    });
    await client.connect();
    try {
      await client.query(`INSERT INTO app.notes (text) VALUES ('after rotation')`);
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM app.notes');
      return Number(rows[0].n);
    } finally {
      await client.end();
    }
  };
  /** No password of the tenant anywhere in the control plane. */
  const assertNoPasswordStored = async (passwords: string[]) => {
    const dump = JSON.stringify(
      await ds.query(
        `SELECT (SELECT json_agg(e) FROM tenant_events e) AS events, (SELECT json_agg(c) FROM tenant_changes c) AS changes,
                (SELECT json_agg(o) FROM outbox o) AS outbox, (SELECT json_agg(s) FROM provisioning_steps s) AS steps`,
      ),
    );
    for (const p of passwords) expect(dump).not.toContain(p);
  };

  it('rotates the app login to the other of the pair, retires the previous one, keeps the rights; then app and master together', async () => {
    const tenant = await provision('rot');
    const names = tenantResourceNames(prefix, tenant.slug);
    const before = await secret(names.appSecretName);
    const masterBefore = await secret(names.masterSecretName);
    // New tenants start on the first login of the pair; the app role only holds the grants.
    expect(before.username).toBe(`${names.appRole}_a`);
    expect(await role(names.appRole)).toEqual({ rolcanlogin: false, has_password: false, members_of: [] });

    expect((await rotate(tenant.id, { which: 'app' }, ['ops'])).status).toBe(403);
    expect((await rotate(tenant.id, { which: 'everything' })).status).toBe(400);
    const accepted = await rotate(tenant.slug, { which: 'app' });
    expect(accepted.status).toBe(202);
    expect(tenantResource.parse(accepted.body).change).toMatchObject({
      kind: 'rotation',
      to: 'app',
      status: 'RUNNING',
    });
    expect((await settled(tenant.id, 1)).status).toBe('SUCCEEDED');

    const first = await secret(names.appSecretName);
    expect(first.username).toBe(`${names.appRole}_b`);
    expect(first.password).not.toBe(before.password);
    expect(await secret(names.appSecretName, 'AWSPREVIOUS')).toEqual(before);
    expect(Object.keys(await versions(names.appSecretName))).toHaveLength(2);
    expect(await loginRefusal(instanceAdminUrl(), first)).toBeUndefined();
    // The previous login can no longer log in; the app role stays the group that holds the grants.
    expect(await role(before.username)).toEqual({
      rolcanlogin: false,
      has_password: false,
      members_of: [names.appRole],
    });
    expect(await role(names.appRole)).toEqual({ rolcanlogin: false, has_password: false, members_of: [] });
    expect(await role(first.username)).toEqual({
      rolcanlogin: true,
      has_password: true,
      members_of: [names.appRole],
    });
    expect(await useAppDatabase(tenant, first)).toBe(1);
    // The master secret was not touched.
    expect(await secret(names.masterSecretName)).toEqual(masterBefore);
    const view = tenantResource.parse(
      (
        await request(api.app.getHttpServer())
          .get(`/v1/tenants/${tenant.id}`)
          .set('authorization', await api.auth(['sre']))
      ).body,
    );
    expect(view.change!.steps.map((s) => [s.name, s.status])).toEqual(
      rotationSteps('app').map((step) => [step, 'done']),
    );

    expect((await rotate(tenant.id, { which: 'both' })).status).toBe(202);
    expect((await settled(tenant.id, 2)).status).toBe('SUCCEEDED');
    const second = await secret(names.appSecretName);
    const masterAfter = await secret(names.masterSecretName);
    expect(second.username).toBe(`${names.appRole}_a`);
    expect(await role(first.username)).toMatchObject({ rolcanlogin: false, has_password: false });
    expect(await loginRefusal(instanceAdminUrl(), second)).toBeUndefined();
    expect(await loginRefusal(instanceAdminUrl(), first)).toBe('28P01');
    expect(masterAfter.username).toBe(masterBefore.username);
    expect(masterAfter.password).not.toBe(masterBefore.password);
    expect(await loginRefusal(instanceAdminUrl(), masterAfter)).toBeUndefined();
    expect(await loginRefusal(instanceAdminUrl(), masterBefore)).toBe('28P01');
    expect(await useAppDatabase(tenant, second)).toBe(2);
    expect(Object.keys(await versions(names.appSecretName))).toHaveLength(3);
    expect(Object.keys(await versions(names.masterSecretName)).length).toBeGreaterThanOrEqual(2);

    await assertNoPasswordStored([before, first, second, masterBefore, masterAfter].map((s) => s.password));
  });

  it('ends the sessions of the retired app login and the older ones of the master, and revokes memberships granted by hand', async () => {
    const tenant = await provision('end');
    const names = tenantResourceNames(prefix, tenant.slug);
    const app = await secret(names.appSecretName);
    const master = await secret(names.masterSecretName);
    const oldApp = await openSession(tenant, app);
    const oldMaster = await openSession(tenant, master);
    await oldApp.query('SELECT count(*) FROM app.notes');
    await oldMaster.query('SELECT 1');
    await asAdmin(
      `GRANT pg_read_all_data TO ${quoteIdentifier(app.username)}, ${quoteIdentifier(names.appRole)}`,
    );
    expect((await role(app.username)).members_of.sort()).toEqual([names.appRole, 'pg_read_all_data'].sort());

    expect((await rotate(tenant.id, { which: 'both' })).status).toBe(202);
    expect((await settled(tenant.id, 1)).status).toBe('SUCCEEDED');

    // A session opened with a leaked password does not outlive the rotation.
    await expect(oldApp.query('SELECT count(*) FROM app.notes')).rejects.toThrow();
    await expect(oldMaster.query('SELECT 1')).rejects.toThrow();
    expect(await role(app.username)).toEqual({
      rolcanlogin: false,
      has_password: false,
      members_of: [names.appRole],
    });
    expect(await role(names.appRole)).toEqual({ rolcanlogin: false, has_password: false, members_of: [] });
    const next = await secret(names.appSecretName);
    expect((await role(next.username)).members_of).toEqual([names.appRole]);
    expect(await useAppDatabase(tenant, next)).toBe(1);
    // The rotation's own sessions were not ended (its steps succeeded); the counts are recorded.
    const recorded = await ds.query<{ data: Record<string, unknown> }[]>(
      `SELECT data FROM tenant_events WHERE tenant_id = $1 AND type = 'step.completed'
          AND data->>'step' LIKE '%:terminate-sessions' ORDER BY id`,
      [tenant.id],
    );
    expect(recorded.map(({ data }) => [data.step, data.user, data.terminated])).toEqual([
      ['master:terminate-sessions', master.username, 1],
      ['app:terminate-sessions', app.username, 1],
    ]);
  });

  it('moves a tenant provisioned before the alternating logins (its app role logs in) to …_app_a, ending the old sessions', async () => {
    const tenant = await provision('legacy');
    const names = tenantResourceNames(prefix, tenant.slug);
    // The state provisioning left before new tenants started on …_app_a: the app role logs in,
    // and the app secret names it.
    const current = await secret(names.appSecretName);
    const legacy = { ...current, username: names.appRole, password: `legacy-${uniqueToken(8)}` };
    await aws.secretsManager.send(
      new PutSecretValueCommand({ SecretId: names.appSecretName, SecretString: JSON.stringify(legacy) }),
    );
    await asAdmin(`DROP ROLE ${quoteIdentifier(current.username)}`);
    const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    const master = await secret(names.masterSecretName);
    await bootstrapAppRole(
      {
        host: row.dbEndpointHost!,
        port: row.dbEndpointPort!,
        database: row.dbName!,
        user: master.username,
        password: master.password,
      },
      // Its tenant as the role's default, as a bootstrap with the current schema gives it.
      { role: names.appRole, password: legacy.password, tenantId: tenant.id },
    );
    expect(await role(names.appRole)).toEqual({ rolcanlogin: true, has_password: true, members_of: [] });
    const oldSession = await openSession(tenant, legacy);
    expect(await useAppDatabase(tenant, legacy)).toBe(1);

    expect((await rotate(tenant.id, { which: 'app' })).status).toBe(202);
    expect((await settled(tenant.id, 1)).status).toBe('SUCCEEDED');

    const first = await secret(names.appSecretName);
    expect(first.username).toBe(`${names.appRole}_a`);
    expect(await loginRefusal(instanceAdminUrl(), first)).toBeUndefined();
    expect(await role(names.appRole)).toEqual({ rolcanlogin: false, has_password: false, members_of: [] });
    expect(await role(first.username)).toEqual({
      rolcanlogin: true,
      has_password: true,
      members_of: [names.appRole],
    });
    await expect(oldSession.query('SELECT 1')).rejects.toThrow();
    expect(await useAppDatabase(tenant, first)).toBe(2);

    expect((await rotate(tenant.id, { which: 'app' })).status).toBe(202);
    expect((await settled(tenant.id, 2)).status).toBe('SUCCEEDED');
    expect((await secret(names.appSecretName)).username).toBe(`${names.appRole}_b`);
    expect(await role(first.username)).toMatchObject({ rolcanlogin: false, has_password: false });
  });

  it('a crash after any step’s work (before it is recorded) converges on the re-run to one new current version', async () => {
    await worker?.close();
    worker = undefined;
    const tenant = await (async () => {
      worker = await (
        await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
      ).init();
      const t = await provision('crash');
      await worker.close();
      worker = undefined;
      return t;
    })();
    const names = tenantResourceNames(prefix, tenant.slug);
    const base = api.app.get<StepDeps>(SAGA_DEPS);
    const requests = api.app.get(TenantChanges);
    const steps = rotationSteps('both');
    let run = 0;
    for (const crashAt of steps) {
      const appBefore = await secret(names.appSecretName);
      const masterBefore = await secret(names.masterSecretName);
      const appVersions = Object.keys(await versions(names.appSecretName)).length;
      const masterVersions = Object.keys(await versions(names.masterSecretName)).length;
      await requests.requestRotation(tenant.id, 'both', CTX);
      run++;
      // (No worker runs: the test runs the saga, crashing once where `crashAt` would be recorded.)
      let crashed = false;
      const store: StepDeps['store'] = Object.create(base.store) as StepDeps['store'];
      store.updateStep = (tenantId, saga, step, patch, event, ctx) => {
        if (!crashed && step.name === crashAt && patch.status === 'done') {
          crashed = true;
          throw new Crash(`crash after ${crashAt}`);
        }
        return base.store.updateStep(tenantId, saga, step, patch, event, ctx);
      };
      const saga = new RotationSaga({ ...base, store }, api.app.get(ChangeStore), log);
      let outcome: SagaOutcome | undefined;
      for (let pass = 0; pass < 50; pass++) {
        try {
          outcome = await saga.run(tenant.id, CTX);
        } catch (error) {
          if (!(error instanceof Crash)) throw error;
          continue;
        }
        if (outcome.kind === 'finished') break;
      }
      // 'finish' records itself in one transaction with the change: a crash there is a rollback.
      if (crashAt !== 'finish') expect(crashed).toBe(true);
      const change = await ds.getRepository(TenantChangeEntity).findOneByOrFail({ tenantId: tenant.id, run });
      expect([crashAt, change.status]).toEqual([crashAt, 'SUCCEEDED']);
      const app = await secret(names.appSecretName);
      const master = await secret(names.masterSecretName);
      expect([crashAt, Object.keys(await versions(names.appSecretName)).length]).toEqual([
        crashAt,
        appVersions + 1,
      ]);
      expect([crashAt, Object.keys(await versions(names.masterSecretName)).length]).toEqual([
        crashAt,
        masterVersions + 1,
      ]);
      expect(app.password).not.toBe(appBefore.password);
      expect(master.password).not.toBe(masterBefore.password);
      expect(app.username).not.toBe(appBefore.username);
      expect(await loginRefusal(instanceAdminUrl(), app)).toBeUndefined();
      expect(await loginRefusal(instanceAdminUrl(), master)).toBeUndefined();
      expect(await role(appBefore.username)).toMatchObject({ rolcanlogin: false, has_password: false });
      const pending = Object.values(await versions(names.appSecretName)).filter((s) =>
        s.includes('AWSPENDING'),
      );
      expect(pending).toEqual([]);
    }
  });
  it('with CREDENTIAL_ROTATION_DAYS, a reconcile pass starts a rotation for tenants whose credentials are older, and only those', async () => {
    await worker?.close();
    worker = undefined;
    const make = async (slug: string, ageDays: number) => {
      const repo = ds.getRepository(TenantEntity);
      const tenant = await repo.save(repo.create({ slug, name: slug, tier: 'starter', status: 'ACTIVE' }));
      await ds.query(`UPDATE tenants SET created_at = now() - $2 * interval '1 day' WHERE id = $1`, [
        tenant.id,
        ageDays,
      ]);
      return tenant;
    };
    const old = await make(`old-${uniqueToken(2)}`, 40);
    const fresh = await make(`new-${uniqueToken(2)}`, 2);
    const reconciler = new Reconciler(
      ds,
      { jobFate: () => Promise.resolve('live'), discardCompleted: () => Promise.resolve() },
      { stuckGraceMs: 60_000, credentialRotationDays: 30 },
      api.app.get(RECONCILER_FLEET),
      log,
    );
    const pass = async () => {
      const result = await reconciler.pass('test', `rotation-schedule-${uniqueToken(2)}`);
      if (result === 'busy') throw new Error('no other pass should run');
    };
    await pass();
    const opened = await ds
      .getRepository(TenantChangeEntity)
      .find({ where: [{ tenantId: old.id }, { tenantId: fresh.id }] });
    expect(opened.map((c) => [c.tenantId, c.kind, c.to, c.status, c.requestedBy])).toEqual([
      [old.id, 'rotation', 'both', 'RUNNING', 'system:reconciler'],
    ]);
    // The next pass does not open a second one while it runs.
    await pass();
    expect(await ds.getRepository(TenantChangeEntity).countBy({ tenantId: old.id })).toBe(1);
  });
});
