import { rmSync } from 'node:fs';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { AwsClients, TenantExports } from '../../aws/src';
import { HostEntity, TenantChangeEntity, TenantEntity, TenantEventEntity } from '../../control-plane-db/src';
import {
  hostResourceNames,
  ProvisioningError,
  ProvisioningErrorCode,
  TenantError,
  tenantResourceNames,
  type TierName,
} from '../../core/src';
import { localSnapshot } from '../../tenant-schema/src';
import {
  FleetCheck,
  ProvisioningSettings,
  RECONCILER_FLEET,
  TenantDatabaseAdmin,
  TenantOnboarding,
  TenantSnapshots,
  TenantUndeletes,
  type FleetAccess,
  type FleetSettings,
  type InstanceUndeletePlan,
} from '../src';

jest.setTimeout(240_000);

const CTX = { actor: 'ops-test', correlationId: 'undelete-1' };

type Secret = { host: string; port: number; dbname: string; username: string; password: string };

/** A worker in this process (WorkerModule) against its own control-plane database, with the helpers the tests share. */
function undeleteFixture(label: string, name: string, env: Record<string, string> = {}) {
  const prefix = `${label}${uniqueToken(3)}`;
  let database: { name: string; url: string };
  let app: INestApplicationContext;
  let aws: AwsClients;
  let ds: DataSource;
  let onboarding: TenantOnboarding;
  let undeletes: TenantUndeletes;

  beforeAll(async () => {
    database = await createOwnDatabase(name);
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      WORKER_CONCURRENCY: '4',
      ...env,
    });
    app = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    aws = new AwsClients(config);
    ds = app.get(DataSource);
    onboarding = app.get(TenantOnboarding);
    undeletes = app.get(TenantUndeletes);
  });

  afterAll(async () => {
    await app?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  }, 120_000);

  const row = (id: string) => ds.getRepository(TenantEntity).findOneByOrFail({ id });

  async function reaches(tenantId: string, status: TenantEntity['status']): Promise<TenantEntity> {
    return eventually(
      async () => {
        const t = await row(tenantId);
        if (t.status === 'FAILED') throw new Error(`tenant failed: ${t.failureStep} ${t.failureMessage}`);
        expect(t.status).toBe(status);
        return t;
      },
      120_000,
      100,
    );
  }

  async function onboard(tier: TierName, label: string): Promise<TenantEntity> {
    const { tenant } = await onboarding.createTenant(
      { slug: `${label}-${uniqueToken(2)}`, name: label, tier },
      CTX,
    );
    return reaches(tenant.id, 'ACTIVE');
  }

  async function deleteTenant(tenantId: string): Promise<void> {
    await onboarding.requestDeletion(tenantId, CTX);
    await reaches(tenantId, 'DELETED');
  }

  async function changeEnds(tenantId: string): Promise<TenantChangeEntity> {
    return eventually(
      async () => {
        const t = await row(tenantId);
        const change = await ds
          .getRepository(TenantChangeEntity)
          .findOneByOrFail({ tenantId, run: t.changeRun });
        expect(['SUCCEEDED', 'FAILED']).toContain(change.status);
        return change;
      },
      180_000,
      100,
    );
  }

  async function secret(name: string): Promise<Secret> {
    const { SecretString } = await aws.secretsManager.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
    );
    return JSON.parse(SecretString!) as Secret;
  }

  async function deletionDate(name: string): Promise<Date | undefined> {
    return (await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate;
  }

  async function notes(s: Secret): Promise<string[]> {
    const client = new Client({
      host: s.host,
      port: s.port,
      database: s.dbname,
      user: s.username,
      password: s.password,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const { rows } = await client.query<{ text: string }>('SELECT text FROM notes ORDER BY text');
      return rows.map((r) => r.text);
    } finally {
      await client.end();
    }
  }

  async function refusal(work: Promise<unknown>): Promise<TenantError> {
    const error = await work.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TenantError);
    return error as TenantError;
  }

  return {
    prefix,
    get app() {
      return app;
    },
    get aws() {
      return aws;
    },
    get ds() {
      return ds;
    },
    get undeletes() {
      return undeletes;
    },
    row,
    reaches,
    onboard,
    deleteTenant,
    changeEnds,
    secret,
    deletionDate,
    notes,
    refusal,
  };
}

/**
 * Undeletes of DELETED instance tenants (the test environment puts every tier on an instance) through the worker, against moto, Redis and the local
 * backend, whose final snapshots are real dumps: the rows that come back are the tenant's own.
 */
/**
 * Undeletes of DELETED instance tenants (the test environment puts every tier on an instance)
 * through the worker, against moto, Redis and the local backend, whose final snapshots are real
 * dumps: the rows that come back are the tenant's own.
 */
describe('undeleting a tenant', () => {
  const f = undeleteFixture('ud', 'undelete');
  const { row, onboard, deleteTenant, changeEnds, secret, deletionDate, notes, refusal } = f;
  const prefix = f.prefix;

  it('brings a deleted instance tenant back ACTIVE with its rows, its id and slug, and the same app credentials', async () => {
    const tenant = await onboard('pro', 'undel');
    const names = tenantResourceNames(prefix, tenant.slug);
    const before = await secret(names.appSecretName);
    const master = await secret(names.masterSecretName);
    const client = new Client({
      host: before.host,
      port: before.port,
      database: before.dbname,
      user: before.username,
      password: before.password,
    });
    await client.connect();
    await client.query(`INSERT INTO notes (text) SELECT 'note ' || g FROM generate_series(1, 25) g`);
    await client.end();
    const written = await notes(before);

    await deleteTenant(tenant.id);
    expect(await deletionDate(names.appSecretName)).toBeInstanceOf(Date);

    // Asked twice: one undelete runs, the second is busy.
    const asked = await f.undeletes.requestUndelete(tenant.id, CTX);
    expect(asked.status).toBe('DELETED');
    expect((await refusal(f.undeletes.requestUndelete(tenant.id, CTX))).code).toBe('TENANT_BUSY');
    const change = await changeEnds(tenant.id);
    expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);
    expect(change).toMatchObject({ kind: 'undelete', to: 'ACTIVE' });
    const plan = change.plan as unknown as InstanceUndeletePlan;
    expect(plan.finalSnapshot).toMatch(new RegExp(`^${names.instanceIdentifier}-final-`));

    const back = await row(tenant.id);
    expect(back).toMatchObject({
      id: tenant.id,
      slug: tenant.slug,
      status: 'ACTIVE',
      dbInstanceIdentifier: names.instanceIdentifier,
      schemaVersion: tenant.schemaVersion,
    });
    expect(back.routeVersion).toBeGreaterThan(tenant.routeVersion);
    expect(back.provisioningRun).toBe(tenant.provisioningRun + 1);
    // The same secrets, restored: same user and password, no deletion scheduled.
    const after = await secret(names.appSecretName);
    expect({ username: after.username, password: after.password }).toEqual({
      username: before.username,
      password: before.password,
    });
    expect((await secret(names.masterSecretName)).password).toBe(master.password);
    expect(await deletionDate(names.appSecretName)).toBeUndefined();
    expect(await deletionDate(names.masterSecretName)).toBeUndefined();
    // Its rows, through its own app credentials.
    expect(await notes(after)).toEqual(written);
    // The instance has the tier's settings and the tenant's tags.
    const { DBInstances } = await f.aws.rds.send(
      new DescribeDBInstancesCommand({ DBInstanceIdentifier: names.instanceIdentifier }),
    );
    const tags = Object.fromEntries((DBInstances?.[0]?.TagList ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ 'silo:tenant-id': tenant.id, 'silo:tenant-slug': tenant.slug });
    const pro = f.app.get(ProvisioningSettings).tiers.pro;
    expect(DBInstances?.[0]).toMatchObject({
      BackupRetentionPeriod: pro.backupRetentionDays,
      MultiAZ: pro.multiAz,
      DeletionProtection: pro.deletionProtection,
      DBInstanceClass: pro.instanceClass,
    });
    const events = await f.ds
      .getRepository(TenantEventEntity)
      .find({ where: { tenantId: tenant.id }, order: { id: 'ASC' } });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['tenant.deleted', 'tenant.undeleted']));

    // A live tenant is not undeleted.
    expect((await refusal(f.undeletes.requestUndelete(tenant.id, CTX))).code).toBe('ILLEGAL_TRANSITION');

    // Deleted again, its final snapshot is the new one.
    await deleteTenant(tenant.id);
    await f.undeletes.requestUndelete(tenant.id, CTX);
    const again = await changeEnds(tenant.id);
    expect(again.status).toBe('SUCCEEDED');
    expect((again.plan as unknown as InstanceUndeletePlan).finalSnapshot).not.toBe(plan.finalSnapshot);
    expect(await notes(await secret(names.appSecretName))).toEqual(written);
  });

  it('with FINAL_SNAPSHOT_EXPIRY=delete, a pass deletes a final snapshot past its retention, and the undelete then says it is gone', async () => {
    const tenant = await onboard('starter', 'expired');
    await deleteTenant(tenant.id);
    const [{ id: snapshot }] = await f.ds.query<Array<{ id: string }>>(
      `SELECT data->>'finalSnapshotIdentifier' AS id FROM tenant_events
        WHERE tenant_id = $1 AND type = 'step.completed' AND data->>'step' = 'delete-instance'`,
      [tenant.id],
    );
    const fleet = f.app.get<{ access: FleetAccess; settings: FleetSettings }>(RECONCILER_FLEET);
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const pass = (expiry: 'keep' | 'delete') =>
      new FleetCheck(
        f.ds,
        fleet.access,
        { ...fleet.settings, finalSnapshotExpiry: expiry },
        log,
        // Past the retention (FINAL_SNAPSHOT_RETENTION_DAYS, 35 by default).
        () => new Date(Date.now() + 40 * 86_400_000),
      ).run(CTX, null);
    const requested = () =>
      f.ds.query<Array<{ requested: boolean }>>(
        `SELECT deletion_requested_at IS NOT NULL AS requested FROM reconcile_orphans WHERE type = 'snapshot' AND name = $1`,
        [snapshot],
      );
    // Kept (the default): an orphan for an operator, nothing asked for.
    await pass('keep');
    expect(await requested()).toEqual([{ requested: false }]);
    await pass('delete');
    expect(await requested()).toEqual([{ requested: true }]);
    // The worker's orphan deletion reads its tags again and deletes it.
    await eventually(
      async () =>
        expect(
          (
            await f.aws.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))
          ).DBSnapshots?.some((s) => s.DBSnapshotIdentifier === snapshot),
        ).toBe(false),
      60_000,
      200,
    );
    expect((await refusal(f.undeletes.requestUndelete(tenant.id, CTX))).detail).toMatchObject({
      rule: 'final-snapshot-missing',
    });
  });

  it('answers 409 recovery-window-ended once the secrets are past their deletion date, recording nothing', async () => {
    const tenant = await onboard('starter', 'late');
    const names = tenantResourceNames(prefix, tenant.slug);
    await deleteTenant(tenant.id);
    const due = await deletionDate(names.appSecretName);
    expect(due).toBeInstanceOf(Date);
    const runBefore = (await row(tenant.id)).changeRun;
    // Secrets Manager's window is 7 days at least: the clock is moved past the date it gives.
    const now = jest.spyOn(Date, 'now').mockReturnValue(due!.getTime() + 1_000);
    let refused: TenantError;
    try {
      refused = await refusal(f.undeletes.requestUndelete(tenant.id, CTX));
    } finally {
      now.mockRestore();
    }
    expect(refused).toMatchObject({ code: 'UNDELETE_REFUSED', detail: { rule: 'recovery-window-ended' } });
    expect(refused.message).toContain(names.masterSecretName);
    expect((await row(tenant.id)).changeRun).toBe(runBefore);
  });

  it('leaves the tenant DELETED, its secrets scheduled for deletion again and nothing restored when the undelete fails', async () => {
    const tenant = await onboard('starter', 'lost');
    const names = tenantResourceNames(prefix, tenant.slug);
    await deleteTenant(tenant.id);
    const due = await deletionDate(names.appSecretName);
    const [deleted] = await f.ds.query<Array<{ id: string }>>(
      `SELECT data->>'finalSnapshotIdentifier' AS id FROM tenant_events
        WHERE tenant_id = $1 AND type = 'step.completed' AND data->>'step' = 'delete-instance'`,
      [tenant.id],
    );
    // The local backend loses the snapshot's data: RDS restores the instance, but there is nothing to put in it.
    const saved = await localSnapshot(instanceAdminUrl(), deleted.id);
    expect(saved).not.toBeNull();
    rmSync(saved!.path, { force: true });

    await f.undeletes.requestUndelete(tenant.id, CTX);
    const change = await changeEnds(tenant.id);
    expect(change).toMatchObject({
      status: 'FAILED',
      errorStep: 'restore-available',
      errorCode: 'AWS_REJECTED',
    });
    expect(await row(tenant.id)).toMatchObject({ status: 'DELETED' });
    await expect(
      f.aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: names.instanceIdentifier })),
    ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
    for (const name of [names.appSecretName, names.masterSecretName]) {
      const again = await deletionDate(name);
      expect(again).toBeInstanceOf(Date);
      // What was left of the window (Secrets Manager's minimum: 7 days), not a new one of its own.
      expect(Math.abs(again!.getTime() - due!.getTime())).toBeLessThan(86_400_000 + 60_000);
    }
    const failed = await f.ds
      .getRepository(TenantEventEntity)
      .findOneByOrFail({ tenantId: tenant.id, type: 'tenant.change_failed' });
    expect(failed.message).toContain('stays DELETED');
  });
});

/**
 * Undeletes of schema tenants that fail, with the built-in tiers (pro: schema): what the host
 * committed of the undelete's import goes, what it did not make stays, and the tenant stays
 * DELETED with its secret scheduled for deletion again. (The e2e undeletes a schema and a pooled
 * tenant through the example app with a SIGKILL in every step.)
 */
describe('undeleting a schema tenant that fails', () => {
  const f = undeleteFixture('us', 'undelete_shared', {
    SILO_TIER_PROFILES_FILE: builtInTierProfilesFile({
      starter: { tenantsPerHost: 10, connectionBudget: 100 },
      pro: { tenantsPerHost: 10, connectionBudget: 100 },
    }),
  });
  const { row, onboard, deleteTenant, changeEnds, secret, deletionDate } = f;

  /** The host's owner, from its master secret: what the test reads the host's catalog as. */
  async function hostOwner(t: TenantEntity): Promise<Client> {
    const host = await f.ds.getRepository(HostEntity).findOneByOrFail({ id: t.hostId! });
    const s = await secret(hostResourceNames(f.prefix, host.name).masterSecretName);
    const client = new Client({
      host: s.host,
      port: s.port,
      database: s.dbname,
      user: s.username,
      password: s.password,
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }
  const schemaThere = async (t: TenantEntity) => {
    const owner = await hostOwner(t);
    try {
      const { rowCount } = await owner.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [
        tenantResourceNames(f.prefix, t.slug).tenantSchema,
      ]);
      return rowCount === 1;
    } finally {
      await owner.end();
    }
  };

  it('removes the imported schema when a later step fails for good, and a second undelete brings it back', async () => {
    const tenant = await onboard('pro', 'shfail');
    const names = tenantResourceNames(f.prefix, tenant.slug);
    await deleteTenant(tenant.id);
    expect(await schemaThere(tenant)).toBe(false);
    const due = await deletionDate(names.appSecretName);

    // The role cannot be made (once): the import has committed by then.
    const admin = f.app.get(TenantDatabaseAdmin);
    const refuse = jest
      .spyOn(admin, 'bootstrapAppRole')
      .mockRejectedValueOnce(
        new ProvisioningError(ProvisioningErrorCode.DATABASE_REJECTED, 'the role is refused'),
      );
    try {
      await f.undeletes.requestUndelete(tenant.id, CTX);
      expect(await changeEnds(tenant.id)).toMatchObject({
        status: 'FAILED',
        errorStep: 'bootstrap-database',
        errorCode: 'DATABASE_REJECTED',
      });
    } finally {
      refuse.mockRestore();
    }
    expect(await row(tenant.id)).toMatchObject({ status: 'DELETED' });
    expect(await schemaThere(tenant)).toBe(false);
    const again = await deletionDate(names.appSecretName);
    expect(again).toBeInstanceOf(Date);
    expect(Math.abs(again!.getTime() - due!.getTime())).toBeLessThan(86_400_000 + 60_000);
    // The failed undelete's place was given back: the host counts its tenants only.
    const [{ reserving }] = await f.ds.query<Array<{ reserving: number }>>(
      `SELECT count(*)::int AS reserving FROM tenant_changes WHERE kind = 'undelete' AND status = 'RUNNING'`,
    );
    expect(reserving).toBe(0);

    await f.undeletes.requestUndelete(tenant.id, CTX);
    expect(await changeEnds(tenant.id)).toMatchObject({ status: 'SUCCEEDED' });
    const back = await row(tenant.id);
    expect(back).toMatchObject({ status: 'ACTIVE', schemaVersion: tenant.schemaVersion });
    expect(await schemaThere(back)).toBe(true);
    const app = await secret(names.appSecretName);
    const client = new Client({
      host: app.host,
      port: app.port,
      database: app.dbname,
      user: app.username,
      password: app.password,
    });
    await client.connect();
    try {
      // Its own login, its own schema (the role's search_path), writable again.
      await client.query(`INSERT INTO notes (text) VALUES ('after the undelete')`);
      expect((await client.query('SELECT count(*)::int AS n FROM notes')).rows[0]).toEqual({ n: 1 });
    } finally {
      await client.end();
    }
  });

  it("takes a live schema tenant's manual snapshot as an export of its schema, listed with its snapshots", async () => {
    const tenant = await onboard('pro', 'shsnap');
    const snapshots = f.app.get(TenantSnapshots);
    const asked = await snapshots.requestSnapshot(tenant.id, CTX);
    expect(asked.identifier).toMatch(new RegExp(`^${f.prefix}/exports/${tenant.slug}/\\d{8}-\\d{6}\\.dump$`));
    const listed = await eventually(
      async () => {
        const found = (await snapshots.snapshots(await row(tenant.id))).find(
          (s) => s.identifier === asked.identifier,
        );
        expect(found).toMatchObject({ type: 'export', status: 'available' });
        return found!;
      },
      60_000,
      200,
    );
    expect(listed.export?.bytes).toBeGreaterThan(0);
    const stored = await f.app.get(TenantExports).describe(asked.identifier, listed.export!.bucket);
    expect(stored).toMatchObject({ bytes: listed.export!.bytes, tags: { 'silo:tenant-id': tenant.id } });
    // The tenant is untouched: still ACTIVE on its host.
    expect(await row(tenant.id)).toMatchObject({ status: 'ACTIVE', hostId: tenant.hostId });
  });

  it('leaves a schema it did not make where it is: a schema of the name on the host fails the import, and stays', async () => {
    const tenant = await onboard('pro', 'shtaken');
    const names = tenantResourceNames(f.prefix, tenant.slug);
    await deleteTenant(tenant.id);
    const owner = await hostOwner(tenant);
    try {
      await owner.query(`CREATE SCHEMA "${names.tenantSchema}"`);
      await owner.query(`CREATE TABLE "${names.tenantSchema}".theirs (id int)`);
    } finally {
      await owner.end();
    }
    await f.undeletes.requestUndelete(tenant.id, CTX);
    const change = await changeEnds(tenant.id);
    expect(change).toMatchObject({
      status: 'FAILED',
      errorStep: 'import-data',
      errorCode: 'DATABASE_REJECTED',
    });
    expect(change.errorMessage).toMatch(/has a schema .* already/);
    expect(await row(tenant.id)).toMatchObject({ status: 'DELETED' });
    const after = await hostOwner(tenant);
    try {
      expect(
        (await after.query(`SELECT to_regclass($1) IS NOT NULL AS kept`, [`"${names.tenantSchema}".theirs`]))
          .rows[0],
      ).toEqual({ kept: true });
    } finally {
      await after.end();
    }
    expect(await deletionDate(names.appSecretName)).toBeInstanceOf(Date);
  });
});
