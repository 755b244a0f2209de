import { rmSync } from 'node:fs';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { AwsClients } from '../../aws/src';
import { TenantChangeEntity, TenantEntity, TenantEventEntity } from '../../control-plane-db/src';
import { TenantError, tenantResourceNames, type TierName } from '../../core/src';
import { localSnapshot } from '../../tenant-schema/src';
import { ProvisioningSettings, TenantOnboarding, TenantUndeletes, type InstanceUndeletePlan } from '../src';

jest.setTimeout(240_000);

const prefix = `ud${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'undelete-1' };

type Secret = { host: string; port: number; dbname: string; username: string; password: string };

/**
 * Undeletes of DELETED instance tenants (the test environment puts every tier on an instance) through the worker, against moto, Redis and the local
 * backend, whose final snapshots are real dumps: the rows that come back are the tenant's own.
 */
describe('undeleting a tenant', () => {
  let database: { name: string; url: string };
  let app: INestApplicationContext;
  let aws: AwsClients;
  let ds: DataSource;
  let onboarding: TenantOnboarding;
  let undeletes: TenantUndeletes;

  beforeAll(async () => {
    database = await createOwnDatabase('undelete');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      WORKER_CONCURRENCY: '4',
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
    const asked = await undeletes.requestUndelete(tenant.id, CTX);
    expect(asked.status).toBe('DELETED');
    expect((await refusal(undeletes.requestUndelete(tenant.id, CTX))).code).toBe('TENANT_BUSY');
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
    const { DBInstances } = await aws.rds.send(
      new DescribeDBInstancesCommand({ DBInstanceIdentifier: names.instanceIdentifier }),
    );
    const tags = Object.fromEntries((DBInstances?.[0]?.TagList ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ 'silo:tenant-id': tenant.id, 'silo:tenant-slug': tenant.slug });
    const pro = app.get(ProvisioningSettings).tiers.pro;
    expect(DBInstances?.[0]).toMatchObject({
      BackupRetentionPeriod: pro.backupRetentionDays,
      MultiAZ: pro.multiAz,
      DeletionProtection: pro.deletionProtection,
      DBInstanceClass: pro.instanceClass,
    });
    const events = await ds
      .getRepository(TenantEventEntity)
      .find({ where: { tenantId: tenant.id }, order: { id: 'ASC' } });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['tenant.deleted', 'tenant.undeleted']));

    // A live tenant is not undeleted.
    expect((await refusal(undeletes.requestUndelete(tenant.id, CTX))).code).toBe('ILLEGAL_TRANSITION');

    // Deleted again, its final snapshot is the new one.
    await deleteTenant(tenant.id);
    await undeletes.requestUndelete(tenant.id, CTX);
    const again = await changeEnds(tenant.id);
    expect(again.status).toBe('SUCCEEDED');
    expect((again.plan as unknown as InstanceUndeletePlan).finalSnapshot).not.toBe(plan.finalSnapshot);
    expect(await notes(await secret(names.appSecretName))).toEqual(written);
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
      refused = await refusal(undeletes.requestUndelete(tenant.id, CTX));
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
    const [deleted] = await ds.query<Array<{ id: string }>>(
      `SELECT data->>'finalSnapshotIdentifier' AS id FROM tenant_events
        WHERE tenant_id = $1 AND type = 'step.completed' AND data->>'step' = 'delete-instance'`,
      [tenant.id],
    );
    // The local backend loses the snapshot's data: RDS restores the instance, but there is nothing to put in it.
    const saved = await localSnapshot(instanceAdminUrl(), deleted.id);
    expect(saved).not.toBeNull();
    rmSync(saved!.path, { force: true });

    await undeletes.requestUndelete(tenant.id, CTX);
    const change = await changeEnds(tenant.id);
    expect(change).toMatchObject({
      status: 'FAILED',
      errorStep: 'restore-available',
      errorCode: 'AWS_REJECTED',
    });
    expect(await row(tenant.id)).toMatchObject({ status: 'DELETED' });
    await expect(
      aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: names.instanceIdentifier })),
    ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
    for (const name of [names.appSecretName, names.masterSecretName]) {
      const again = await deletionDate(name);
      expect(again).toBeInstanceOf(Date);
      // What was left of the window (Secrets Manager's minimum: 7 days), not a new one of its own.
      expect(Math.abs(again!.getTime() - due!.getTime())).toBeLessThan(86_400_000 + 60_000);
    }
    const failed = await ds
      .getRepository(TenantEventEntity)
      .findOneByOrFail({ tenantId: tenant.id, type: 'tenant.change_failed' });
    expect(failed.message).toContain('stays DELETED');
  });
});
