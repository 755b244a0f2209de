import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsClients } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { HostEntity, TenantChangeEntity, TenantEntity } from '@silo/control-plane-db';
import { hostResourceNames, tenantResourceNames, type TierName } from '@silo/core';
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
import { Client } from 'pg';
import pino from 'pino';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { loginRefusal } from '../../../test/support/password-login';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { tenantResource } from '../src/tenants/tenant.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(180_000);

const prefix = `rs${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'schema-rotation-it' };
const log = pino({ level: 'silent' });

interface Secret {
  username: string;
  password: string;
  host: string;
  port: number;
  dbname: string;
}

/** A simulated crash: thrown where a step would be recorded done, after its work. */
class Crash extends Error {}

describe('credential rotation of a schema tenant on its shared host', () => {
  let database: { name: string; url: string };
  let profilesDir: string;
  let config: SiloConfig;
  let api: ApiHarness;
  let worker: INestApplicationContext | undefined;
  let ds: DataSource;
  let aws: AwsClients;

  beforeAll(async () => {
    database = await createOwnDatabase('schema_rotation');
    profilesDir = mkdtempSync(join(tmpdir(), 'silo-schema-rotation-'));
    config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(
        {
          starter: { tenantsPerHost: 10, connectionBudget: 100 },
          pro: { tenantsPerHost: 2, connectionBudget: 100 },
        },
        profilesDir,
      ),
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      RECONCILE_INTERVAL_SECONDS: '3600',
      CREDENTIAL_ROTATION_DRAIN_SECONDS: '0',
    });
    aws = new AwsClients(config);
    api = await startApi(config);
    ds = api.app.get(DataSource);
    worker = await startWorker();
  });

  afterAll(async () => {
    for (const session of sessions) await session.end().catch(() => undefined);
    await api?.close();
    await worker?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
    if (profilesDir) rmSync(profilesDir, { recursive: true, force: true });
  });

  async function startWorker(): Promise<INestApplicationContext> {
    return (await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()).init();
  }

  const provision = async (label: string, tier: TierName = 'pro'): Promise<TenantEntity> => {
    const { tenant } = await (worker ?? api.app)
      .get(TenantOnboarding)
      .createTenant({ slug: `${label}-${uniqueToken(2)}`, name: label, tier }, CTX);
    return eventually(async () => {
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
      expect([row.status, row.failureMessage]).toEqual(['ACTIVE', null]);
      return row;
    }, 90_000);
  };
  const secret = async (name: string, stage = 'AWSCURRENT'): Promise<Secret> => {
    const out = await aws.secretsManager.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: stage }),
    );
    return JSON.parse(out.SecretString!) as Secret;
  };
  const versions = async (name: string) =>
    (await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
  const rotate = async (idOrSlug: string, body: object) =>
    request(api.app.getHttpServer())
      .post(`/v1/tenants/${idOrSlug}/rotate-credentials`)
      .set('authorization', await api.auth(['admin'], 'rotation-admin'))
      .send(body);
  const settled = (tenantId: string, run: number) =>
    eventually(async () => {
      const change = await ds.getRepository(TenantChangeEntity).findOneByOrFail({ tenantId, run });
      expect(['SUCCEEDED', 'FAILED']).toContain(change.status);
      return change;
    }, 60_000);
  const hostOf = async (tenant: TenantEntity) => {
    const host = await ds.getRepository(HostEntity).findOneByOrFail({ id: tenant.hostId! });
    return { host, names: hostResourceNames(prefix, host.name) };
  };
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
  const sessions: Client[] = [];
  /** A session on the host as the secret's login, left open as a leaked password would keep one. */
  const connect = async (creds: Secret): Promise<Client> => {
    const client = new Client({
      host: creds.host,
      port: creds.port,
      database: creds.dbname,
      user: creds.username,
      password: creds.password,
    });
    // Terminated by the server while idle: the next query fails; the event must not crash the test.
    client.on('error', () => undefined);
    sessions.push(client);
    await client.connect();
    return client;
  };
  /** What the data plane needs of the login: its schema, its tenant, its rows. */
  const useLogin = async (creds: Secret) => {
    const client = await connect(creds);
    try {
      await client.query(`INSERT INTO notes (text) VALUES ('after rotation')`);
      const { rows } = await client.query<{ schema: string; tenant: string; n: number }>(
        `SELECT current_schema() AS schema, current_setting('app.tenant_id', true) AS tenant,
                (SELECT count(*)::int FROM notes) AS n`,
      );
      return rows[0];
    } finally {
      await client.end();
    }
  };
  /** The SQLSTATE a login with `creds` is refused with, or null when it is let in. */
  const loginRefused = async (creds: Secret): Promise<string | null> => {
    try {
      const client = await connect(creds);
      await client.end();
      return null;
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  };
  const noPasswordStored = async (passwords: string[]) => {
    const dump = JSON.stringify(
      await ds.query(
        `SELECT (SELECT json_agg(e) FROM tenant_events e) AS events, (SELECT json_agg(c) FROM tenant_changes c) AS changes,
                (SELECT json_agg(o) FROM outbox o) AS outbox, (SELECT json_agg(s) FROM provisioning_steps s) AS steps,
                (SELECT json_agg(h) FROM hosts h) AS hosts`,
      ),
    );
    for (const p of passwords) expect(dump).not.toContain(p);
  };

  it('rotates the tenant’s own login on its host as the host’s master, ends the old login’s sessions, and touches neither the host’s master nor its neighbour', async () => {
    const tenant = await provision('sa');
    const neighbour = await provision('sb');
    expect(neighbour.hostId).toBe(tenant.hostId);
    const names = tenantResourceNames(prefix, tenant.slug);
    const { names: hostNames } = await hostOf(tenant);
    const before = await secret(names.appSecretName);
    const hostMaster = await secret(hostNames.masterSecretName);
    const hostMasterVersions = await versions(hostNames.masterSecretName);
    const neighbourBefore = await secret(tenantResourceNames(prefix, neighbour.slug).appSecretName);
    expect(before.username).toBe(`${names.appRole}_a`);
    const oldSession = await connect(before);
    await oldSession.query('SELECT count(*) FROM notes');

    // A schema tenant's master user is its host's: a rotation of it is refused, nothing recorded.
    for (const which of ['master', 'both']) {
      const refused = await rotate(tenant.id, { which });
      expect(refused.status).toBe(422);
      expect(refused.body).toMatchObject({ rule: 'host-master-credentials', hostId: tenant.hostId });
      expect(refused.body.detail).toContain('its master user is the host');
    }
    expect(await ds.getRepository(TenantChangeEntity).countBy({ tenantId: tenant.id })).toBe(0);

    // No body: every credential the tenant owns, which for a schema tenant is its app login.
    const accepted = await rotate(tenant.slug, {});
    expect(accepted.status).toBe(202);
    expect(tenantResource.parse(accepted.body).change).toMatchObject({ kind: 'rotation', to: 'app' });
    const change = await settled(tenant.id, 1);
    expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);

    const after = await secret(names.appSecretName);
    expect(after).toMatchObject({ username: `${names.appRole}_b`, host: before.host, dbname: before.dbname });
    expect(after.password).not.toBe(before.password);
    expect(await secret(names.appSecretName, 'AWSPREVIOUS')).toEqual(before);
    expect(await loginRefusal(instanceAdminUrl(), after)).toBeUndefined();
    // The old login logs in no more: the server refuses its old password (it has none, and NOLOGIN).
    expect(await role(before.username)).toEqual({
      rolcanlogin: false,
      has_password: false,
      members_of: [names.appRole],
    });
    expect(await loginRefused(before)).toBe('28P01');
    await expect(oldSession.query('SELECT 1')).rejects.toThrow();
    expect(await role(after.username)).toEqual({
      rolcanlogin: true,
      has_password: true,
      members_of: [names.appRole],
    });
    // The new login carries the tenant's schema and id, and reaches its rows.
    expect(await useLogin(after)).toEqual({ schema: names.tenantSchema, tenant: tenant.id, n: 1 });

    // The host's master and the neighbour's login are as they were.
    expect(await secret(hostNames.masterSecretName)).toEqual(hostMaster);
    expect(await versions(hostNames.masterSecretName)).toEqual(hostMasterVersions);
    expect(await loginRefusal(instanceAdminUrl(), hostMaster)).toBeUndefined();
    const neighbourNames = tenantResourceNames(prefix, neighbour.slug);
    expect(await secret(neighbourNames.appSecretName)).toEqual(neighbourBefore);
    expect(await useLogin(neighbourBefore)).toEqual({
      schema: neighbourNames.tenantSchema,
      tenant: neighbour.id,
      n: 1,
    });

    const view = tenantResource.parse(
      (
        await request(api.app.getHttpServer())
          .get(`/v1/tenants/${tenant.id}`)
          .set('authorization', await api.auth(['sre']))
      ).body,
    );
    expect(view.change!.steps.map((s) => [s.name, s.status])).toEqual(
      rotationSteps('app').map((s) => [s, 'done']),
    );
    const recorded = await ds.query<{ data: Record<string, unknown> }[]>(
      `SELECT data FROM tenant_events WHERE tenant_id = $1 AND type = 'step.completed'
          AND data->>'step' = 'app:terminate-sessions'`,
      [tenant.id],
    );
    expect(recorded.map(({ data }) => [data.user, data.terminated])).toEqual([[before.username, 1]]);

    // And back to the first login of the pair.
    expect((await rotate(tenant.id, { which: 'app' })).status).toBe(202);
    expect((await settled(tenant.id, 2)).status).toBe('SUCCEEDED');
    const again = await secret(names.appSecretName);
    expect(again.username).toBe(`${names.appRole}_a`);
    expect(await role(after.username)).toMatchObject({ rolcanlogin: false, has_password: false });
    expect(await useLogin(again)).toEqual({ schema: names.tenantSchema, tenant: tenant.id, n: 2 });
    await noPasswordStored([before, after, again, hostMaster].map((s) => s.password));
  });

  it('a crash after any step’s work (before it is recorded) converges on the re-run to one new current version', async () => {
    const tenant = await provision('crash');
    await worker?.close();
    worker = undefined;
    const names = tenantResourceNames(prefix, tenant.slug);
    const { names: hostNames } = await hostOf(tenant);
    const hostMaster = await secret(hostNames.masterSecretName);
    const base = api.app.get<StepDeps>(SAGA_DEPS);
    let run = 0;
    for (const crashAt of rotationSteps('app')) {
      const before = await secret(names.appSecretName);
      const count = Object.keys(await versions(names.appSecretName)).length;
      await api.app.get(TenantChanges).requestRotation(tenant.id, undefined, CTX);
      run++;
      // No worker runs: the test runs the saga, crashing once where `crashAt` would be recorded.
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
      expect([crashAt, change.status, change.to]).toEqual([crashAt, 'SUCCEEDED', 'app']);
      const now = await secret(names.appSecretName);
      expect([crashAt, Object.keys(await versions(names.appSecretName)).length]).toEqual([
        crashAt,
        count + 1,
      ]);
      expect(now.username).not.toBe(before.username);
      expect(await loginRefusal(instanceAdminUrl(), now)).toBeUndefined();
      expect(await role(before.username)).toMatchObject({ rolcanlogin: false, has_password: false });
      expect(
        Object.values(await versions(names.appSecretName)).filter((s) => s.includes('AWSPENDING')),
      ).toEqual([]);
      expect(await useLogin(now)).toMatchObject({ schema: names.tenantSchema, tenant: tenant.id });
    }
    expect(await secret(hostNames.masterSecretName)).toEqual(hostMaster);
  });

  it('with CREDENTIAL_ROTATION_DAYS, a reconcile pass rotates due schema tenants’ logins and instance tenants’ both secrets, and passes pooled tenants by', async () => {
    await worker?.close();
    worker = undefined;
    const [host] = await ds.getRepository(HostEntity).findBy({ placement: 'schema' });
    // A pooled tenant's host, as a record only: a pass never reaches it.
    const poolHost = await ds.getRepository(HostEntity).save(
      ds.getRepository(HostEntity).create({
        name: 'pool-starter-900',
        placement: 'pool',
        tier: 'starter',
        ordinal: 900,
        status: 'creating',
        instanceIdentifier: `${prefix}-host-pool-starter-900`,
        databaseName: 'silo',
        capacityTenants: 10,
        connectionBudget: 100,
      }),
    );
    const make = async (
      slug: string,
      tier: TierName,
      placement: 'instance' | 'schema' | 'pool',
      ageDays: number,
    ) => {
      const repo = ds.getRepository(TenantEntity);
      const tenant = await repo.save(
        repo.create({
          slug,
          name: slug,
          tier,
          status: 'ACTIVE',
          placement,
          hostId: placement === 'instance' ? null : placement === 'schema' ? host.id : poolHost.id,
        }),
      );
      await ds.query(`UPDATE tenants SET created_at = now() - $2 * interval '1 day' WHERE id = $1`, [
        tenant.id,
        ageDays,
      ]);
      return tenant;
    };
    const schemaOld = await make(`so-${uniqueToken(2)}`, 'pro', 'schema', 40);
    const instanceOld = await make(`io-${uniqueToken(2)}`, 'enterprise', 'instance', 40);
    const pooledOld = await make(`po-${uniqueToken(2)}`, 'starter', 'pool', 40);
    const schemaNew = await make(`sn-${uniqueToken(2)}`, 'pro', 'schema', 2);
    const reconciler = new Reconciler(
      ds,
      { jobFate: () => Promise.resolve('live'), discardCompleted: () => Promise.resolve() },
      { stuckGraceMs: 60_000, credentialRotationDays: 30 },
      api.app.get(RECONCILER_FLEET),
      log,
    );
    const result = await reconciler.pass('test', `rotation-schedule-${uniqueToken(2)}`);
    if (result === 'busy') throw new Error('no other pass should run');
    const opened = await ds.getRepository(TenantChangeEntity).find({
      where: [schemaOld, instanceOld, pooledOld, schemaNew].map((t) => ({ tenantId: t.id })),
    });
    expect(
      opened
        .map((c) => [c.tenantId, c.kind, c.to, c.status, c.requestedBy])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    ).toEqual(
      [
        [schemaOld.id, 'rotation', 'app', 'RUNNING', 'system:reconciler'],
        [instanceOld.id, 'rotation', 'both', 'RUNNING', 'system:reconciler'],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });
});
