import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsClients, TenantSecrets } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { HostEntity, HostRotationEntity, TenantEntity } from '@silo/control-plane-db';
import { hostResourceNames, ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import {
  HOST_ROTATION_STEPS,
  HostRotations,
  HostRotationSaga,
  HostRotationStore,
  HostStepStore,
  ProvisioningSettings,
  RECONCILER_FLEET,
  Reconciler,
  SAGA_DEPS,
  TenantOnboarding,
  type HostRotationOutcome,
  type StepDeps,
} from '@silo/fleet';
import { NoteEntity } from '@silo/tenant-schema';
import {
  ControlPlaneTenantDirectory,
  SecretsManagerCredentialSource,
  TenantRouter,
} from '@silo/tenant-router';
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
import { hostRotationList, hostRotationResource } from '../src/hosts/host-rotation.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(180_000);

const prefix = `rh${uniqueToken(3)}`;
const CTX = { actor: 'sre-test', correlationId: 'host-rotation-it' };
const log = pino({ level: 'silent' });
/** The data plane refreshes its secret twice a second; the previous login is retired after 2 s. */
const SECRET_TTL_MS = 500;

interface Secret {
  username: string;
  password: string;
  host: string;
  port: number;
  dbname: string;
}

/** A simulated crash: thrown where a step would be recorded done, after its work. */
class Crash extends Error {}

describe('rotation of a pool host’s pool login (POST /v1/hosts/{id}/rotate-credentials)', () => {
  let database: { name: string; url: string };
  let profilesDir: string;
  let config: SiloConfig;
  let api: ApiHarness;
  let worker: INestApplicationContext | undefined;
  let ds: DataSource;
  let aws: AwsClients;
  const sessions: Client[] = [];

  beforeAll(async () => {
    database = await createOwnDatabase('host_rotation');
    profilesDir = mkdtempSync(join(tmpdir(), 'silo-host-rotation-'));
    config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(
        {
          starter: { tenantsPerHost: 10, connectionBudget: 100 },
          pro: { tenantsPerHost: 10, connectionBudget: 100 },
        },
        profilesDir,
      ),
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      RECONCILE_INTERVAL_SECONDS: '3600',
      CREDENTIAL_ROTATION_DRAIN_SECONDS: '2',
    });
    aws = new AwsClients(config);
    api = await startApi(config);
    ds = api.app.get(DataSource);
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
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

  const onboard = async (label: string, tier: 'starter' | 'pro' = 'starter'): Promise<TenantEntity> => {
    const { tenant } = await api.app
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
  const http = () => request(api.app.getHttpServer());
  const rotate = async (hostId: string, roles: ('sre' | 'admin' | 'ops')[] = ['sre']) =>
    http()
      .post(`/v1/hosts/${hostId}/rotate-credentials`)
      .set('authorization', await api.auth(roles, 'rotation-sre'))
      .send();
  const rotations = async (hostId: string) => {
    const res = await http()
      .get(`/v1/hosts/${hostId}/rotations`)
      .set('authorization', await api.auth(['sre']));
    expect(res.status).toBe(200);
    return hostRotationList.parse(res.body).items;
  };
  const settled = (hostId: string, run: number) =>
    eventually(async () => {
      const rotation = await ds.getRepository(HostRotationEntity).findOneByOrFail({ hostId, run });
      expect(['SUCCEEDED', 'FAILED']).toContain(rotation.status);
      return rotation;
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
  /** The SQLSTATE a login with `creds` is refused with, or null when it is let in. */
  const loginRefused = async (creds: Secret): Promise<string | null> => {
    try {
      await (await connect(creds)).end();
      return null;
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  };
  /** A tenant app's router over the control plane and Secrets Manager, as the example app builds it. */
  const newRouter = () =>
    new TenantRouter(
      new ControlPlaneTenantDirectory(ds, prefix),
      new SecretsManagerCredentialSource(new TenantSecrets(aws), prefix),
      {
        entities: [NoteEntity],
        maxDataSources: 10,
        connectionBudget: 20,
        poolSizeByTier: { starter: 2, pro: 2, enterprise: 2 },
        poolSizePerHost: 4,
        idleTimeoutMs: 60_000,
        connectionTimeoutMs: 10_000,
        statusTtlMs: 60_000,
        secretTtlMs: SECRET_TTL_MS,
        failureBackoffMs: 100,
        ssl: false,
      },
      log,
    );
  const noPasswordStored = async (passwords: string[]) => {
    const dump = JSON.stringify(
      await ds.query(
        `SELECT (SELECT json_agg(r) FROM host_rotations r) AS rotations, (SELECT json_agg(s) FROM host_steps s) AS steps,
                (SELECT json_agg(o) FROM outbox o) AS outbox, (SELECT json_agg(h) FROM hosts h) AS hosts,
                (SELECT json_agg(e) FROM tenant_events e) AS events`,
      ),
    );
    for (const p of passwords) expect(dump).not.toContain(p);
  };

  it('rotates the pool login while the router serves the host’s pooled tenants under load: no request fails, afterwards only the new login logs in', async () => {
    const [a, b] = [await onboard('pa'), await onboard('pb')];
    expect(b.hostId).toBe(a.hostId);
    const hostId = a.hostId!;
    const host = await ds.getRepository(HostEntity).findOneByOrFail({ id: hostId });
    const names = hostResourceNames(prefix, host.name);
    const before = await secret(names.poolAppSecretName);
    const master = await secret(names.masterSecretName);
    const masterVersions = await versions(names.masterSecretName);
    expect(before.username).toBe(`${names.poolAppRole}_a`);
    // A session left open with the old login, as a leaked password would keep one.
    const leaked = await connect(before);
    await leaked.query('SELECT 1');

    const router = newRouter();
    const outcomes = new Map<string, number>();
    let stop = false;
    let sent = 0;
    const load = (async () => {
      const inFlight: Promise<void>[] = [];
      const started = Date.now();
      while (!stop) {
        const i = sent++;
        const tenant = i % 2 === 0 ? a : b;
        inFlight.push(
          router
            .transaction(tenant.id, async (manager) => {
              const notes = manager.getRepository(NoteEntity);
              await notes.save(notes.create({ text: `note ${i}` }));
              const mine = await notes.find();
              if (mine.some((n) => n.tenantId !== tenant.id)) throw new Error('saw another tenant’s note');
            })
            .then(
              () => 'ok',
              (error: unknown) => `error ${error instanceof Error ? error.message : String(error)}`,
            )
            .then((outcome) => void outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)),
        );
        // 50 transactions a second, paced against the start.
        await new Promise((r) => setTimeout(r, Math.max(0, started + sent * 20 - Date.now())));
      }
      await Promise.all(inFlight);
    })();

    try {
      await new Promise((r) => setTimeout(r, 1000));
      expect((await rotate(hostId, ['ops'])).status).toBe(403);
      const accepted = await rotate(hostId);
      expect(accepted.status).toBe(202);
      expect(hostRotationResource.parse(accepted.body)).toMatchObject({
        hostId,
        host: host.name,
        run: 1,
        status: 'RUNNING',
        requestedBy: 'rotation-sre',
      });
      // One at a time per host.
      const second = await rotate(hostId, ['admin']);
      expect(second.status).toBe(409);
      expect(second.body).toMatchObject({ heldBy: 'rotation', run: '1' });
      const rotation = await settled(hostId, 1);
      expect([rotation.status, rotation.errorMessage]).toEqual(['SUCCEEDED', null]);
      // Past the rotation, with the new login only.
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      stop = true;
      await load;
      await router.close();
    }
    const failed = [...outcomes].filter(([outcome]) => outcome !== 'ok');
    expect(failed).toEqual([]);
    expect(outcomes.get('ok')).toBe(sent);
    expect(sent).toBeGreaterThan(150);
    expect(router.stats().rotations).toBeGreaterThan(0);

    const after = await secret(names.poolAppSecretName);
    expect(after).toMatchObject({
      username: `${names.poolAppRole}_b`,
      host: before.host,
      dbname: before.dbname,
    });
    expect(await secret(names.poolAppSecretName, 'AWSPREVIOUS')).toEqual(before);
    expect(await loginRefusal(instanceAdminUrl(), after)).toBeUndefined();
    expect(await role(before.username)).toEqual({
      rolcanlogin: false,
      has_password: false,
      members_of: [names.poolAppRole],
    });
    expect(await role(after.username)).toEqual({
      rolcanlogin: true,
      has_password: true,
      members_of: [names.poolAppRole],
    });
    // The server refuses the old password for real (SCRAM on every login of the local backend).
    expect(await loginRefused(before)).toBe('28P01');
    await expect(leaked.query('SELECT 1')).rejects.toThrow();
    // The new login is the pool's: no tenant of its own, every row hidden until one is set.
    const fresh = await connect(after);
    try {
      const { rows } = await fresh.query<{ tenant: string | null; n: number }>(
        `SELECT current_setting('app.tenant_id', true) AS tenant, (SELECT count(*)::int FROM notes) AS n`,
      );
      expect(rows[0].n).toBe(0);
      expect(rows[0].tenant ?? '').toBe('');
    } finally {
      await fresh.end();
    }
    // The host's master user is not the tenants' rotation's business.
    expect(await secret(names.masterSecretName)).toEqual(master);
    expect(await versions(names.masterSecretName)).toEqual(masterVersions);
    expect(await loginRefusal(instanceAdminUrl(), master)).toBeUndefined();

    const [shown] = await rotations(hostId);
    expect(shown).toMatchObject({
      run: 1,
      status: 'SUCCEEDED',
      login: { from: before.username, to: after.username },
      error: null,
    });
    expect(shown.steps.map((s) => [s.name, s.status])).toEqual(HOST_ROTATION_STEPS.map((s) => [s, 'done']));
    await noPasswordStored([before.password, after.password, master.password]);
  });

  it('refuses what is not a pool host’s to rotate: a pooled tenant’s rotation names its host’s route; a schema host, a host not available, an unknown or malformed id', async () => {
    const pooled = await onboard('pr');
    const host = await ds.getRepository(HostEntity).findOneByOrFail({ id: pooled.hostId! });
    const tenantRotation = await http()
      .post(`/v1/tenants/${pooled.id}/rotate-credentials`)
      .set('authorization', await api.auth(['admin']))
      .send({});
    expect(tenantRotation.status).toBe(422);
    expect(tenantRotation.body).toMatchObject({ rule: 'host-pool-login', hostId: host.id, host: host.name });
    expect(tenantRotation.body.detail).toContain(`POST /v1/hosts/${host.id}/rotate-credentials`);

    const schemaTenant = await onboard('sr', 'pro');
    const schemaHost = await rotate(schemaTenant.hostId!);
    expect(schemaHost.status).toBe(422);
    expect(schemaHost.body).toMatchObject({ rule: 'schema-host-has-no-pool-login' });
    expect(schemaHost.body.detail).toContain('POST /v1/tenants/{id}/rotate-credentials');

    const failedHost = await ds.getRepository(HostEntity).save(
      ds.getRepository(HostEntity).create({
        name: 'pool-starter-900',
        placement: 'pool',
        tier: 'starter',
        ordinal: 900,
        // Failed, so that no tenant is placed on this record.
        status: 'failed',
        error: { code: 'INSTANCE_TERMINAL_STATE', message: 'made by the test' },
        instanceIdentifier: `${prefix}-host-pool-starter-900`,
        databaseName: 'silo',
        capacityTenants: 10,
        connectionBudget: 100,
      }),
    );
    const notAvailable = await rotate(failedHost.id);
    expect(notAvailable.status).toBe(409);
    expect(notAvailable.body).toMatchObject({ hostStatus: 'failed' });
    expect((await rotate('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await rotate('not-a-uuid')).status).toBe(400);
    for (const id of [schemaTenant.hostId!, failedHost.id]) {
      expect(await ds.getRepository(HostRotationEntity).countBy({ hostId: id })).toBe(0);
    }
  });

  it('a crash after any step’s work (before it is recorded) converges on the re-run to one new current version; a permanent failure leaves the current login working', async () => {
    await worker?.close();
    worker = undefined;
    const tenant = await (async () => {
      // A host of its own, made by a worker that is then stopped again.
      worker = await (
        await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
      ).init();
      await ds.query(`UPDATE hosts SET capacity_tenants = 1 WHERE placement = 'pool'`);
      const t = await onboard('crash');
      await worker.close();
      worker = undefined;
      return t;
    })();
    const hostId = tenant.hostId!;
    const host = await ds.getRepository(HostEntity).findOneByOrFail({ id: hostId });
    const names = hostResourceNames(prefix, host.name);
    const base: StepDeps = api.app.get(SAGA_DEPS);
    const settings = api.app.get(ProvisioningSettings);
    const requests = api.app.get(HostRotations);
    const drive = async (saga: HostRotationSaga): Promise<HostRotationOutcome> => {
      for (let pass = 0; pass < 50; pass++) {
        let outcome: HostRotationOutcome;
        try {
          outcome = await saga.run(hostId);
        } catch (error) {
          if (!(error instanceof Crash)) throw error;
          continue;
        }
        if (outcome.kind === 'finished') return outcome;
      }
      throw new Error('the rotation did not settle');
    };
    const sagaWith = (over: { store?: HostStepStore; admin?: StepDeps['admin'] }) =>
      new HostRotationSaga(
        {
          store: over.store ?? new HostStepStore(ds),
          rotations: new HostRotationStore(ds),
          secrets: base.secrets,
          admin: over.admin ?? base.admin,
          backend: base.host,
          // No drain to wait out: the test is the only data plane.
          settings: { ...settings, rotationDrainMs: 0 },
        },
        log,
        CTX,
      );

    let run = 0;
    for (const crashAt of HOST_ROTATION_STEPS) {
      const current = await secret(names.poolAppSecretName);
      const count = Object.keys(await versions(names.poolAppSecretName)).length;
      await requests.request(hostId, CTX);
      run++;
      let crashed = false;
      const store = new HostStepStore(ds);
      const updateStep = store.updateStep.bind(store);
      store.updateStep = (id, saga, step, patch) => {
        if (!crashed && step.name === crashAt && patch.status === 'done') {
          crashed = true;
          throw new Crash(`crash after ${crashAt}`);
        }
        return updateStep(id, saga, step, patch);
      };
      expect(await drive(sagaWith({ store }))).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
      // 'finish' records itself in one transaction with the rotation: a crash there is a rollback.
      if (crashAt !== 'finish') expect(crashed).toBe(true);
      const now = await secret(names.poolAppSecretName);
      expect([crashAt, Object.keys(await versions(names.poolAppSecretName)).length]).toEqual([
        crashAt,
        count + 1,
      ]);
      expect(now.username).not.toBe(current.username);
      expect(await loginRefusal(instanceAdminUrl(), now)).toBeUndefined();
      expect(await role(current.username)).toMatchObject({ rolcanlogin: false, has_password: false });
      expect(
        Object.values(await versions(names.poolAppSecretName)).filter((s) => s.includes('AWSPENDING')),
      ).toEqual([]);
      expect((await rotations(hostId))[0]).toMatchObject({ run, status: 'SUCCEEDED' });
    }

    // A database that refuses the new login for good: the rotation fails, nothing current moved.
    const current = await secret(names.poolAppSecretName);
    const currentVersions = await versions(names.poolAppSecretName);
    await requests.request(hostId, CTX);
    run++;
    const refusing = Object.create(base.admin) as StepDeps['admin'];
    refusing.setAppLogin = () =>
      Promise.reject(
        new ProvisioningError(ProvisioningErrorCode.DATABASE_REJECTED, 'permission denied to alter role'),
      );
    expect(await drive(sagaWith({ admin: refusing }))).toEqual({ kind: 'finished', status: 'FAILED' });
    expect(await ds.getRepository(HostRotationEntity).findOneByOrFail({ hostId, run })).toMatchObject({
      status: 'FAILED',
      errorCode: 'DATABASE_REJECTED',
      errorStep: 'set-secret',
    });
    expect(await secret(names.poolAppSecretName)).toEqual(current);
    expect(await loginRefusal(instanceAdminUrl(), current)).toBeUndefined();
    const stages = await versions(names.poolAppSecretName);
    expect(Object.values(stages).filter((s) => s.includes('AWSPENDING'))).toEqual([]);
    expect(Object.keys(stages).length).toBe(Object.keys(currentVersions).length + 1);
    // The next rotation goes through.
    await requests.request(hostId, CTX);
    expect(await drive(sagaWith({}))).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
  });

  it('with CREDENTIAL_ROTATION_DAYS, a reconcile pass starts a rotation of pool logins older than that, and only those', async () => {
    await worker?.close();
    worker = undefined;
    const pools = await ds.getRepository(HostEntity).findBy({ placement: 'pool', status: 'available' });
    expect(pools.length).toBeGreaterThanOrEqual(2);
    const [old, ...others] = pools;
    // The newest rotation of `old` was long ago; none of the others is due.
    await ds.query(`UPDATE hosts SET created_at = now() - interval '40 days' WHERE id = $1`, [old.id]);
    await ds.query(`UPDATE host_rotations SET finished_at = now() - interval '40 days' WHERE host_id = $1`, [
      old.id,
    ]);
    const before = await ds.getRepository(HostRotationEntity).count();
    const reconciler = new Reconciler(
      ds,
      { jobFate: () => Promise.resolve('live'), discardCompleted: () => Promise.resolve() },
      { stuckGraceMs: 60_000, credentialRotationDays: 30 },
      api.app.get(RECONCILER_FLEET),
      log,
    );
    const result = await reconciler.pass('test', `host-rotation-schedule-${uniqueToken(2)}`);
    if (result === 'busy') throw new Error('no other pass should run');
    const opened = await ds.getRepository(HostRotationEntity).find({ where: { status: 'RUNNING' } });
    expect(opened.map((r) => [r.hostId, r.requestedBy])).toEqual([[old.id, 'system:reconciler']]);
    expect(await ds.getRepository(HostRotationEntity).count()).toBe(before + 1);
    for (const host of others) {
      expect(await ds.getRepository(HostRotationEntity).countBy({ hostId: host.id, status: 'RUNNING' })).toBe(
        0,
      );
    }
  });
});
