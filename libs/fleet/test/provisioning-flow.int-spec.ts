import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { removeTenantInstance } from '../../../test/support/local-tenant-instance';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { AwsClients } from '../../aws/src';
import { ProvisioningStepEntity, TenantEntity } from '../../control-plane-db/src';
import { TenantOnboarding } from '../src';

jest.setTimeout(120_000);

const prefix = `it${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'it-1' };

describe('provisioning against moto, PostgreSQL and Redis', () => {
  let app: INestApplicationContext;
  let aws: AwsClients;
  let ds: DataSource;
  const tenants: Record<string, TenantEntity> = {};

  beforeAll(async () => {
    const config = testConfig({
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      WORKER_CONCURRENCY: '3',
      KMS_KEY_ID: 'alias/silo-tenants',
    });
    app = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    aws = new AwsClients(config);
    ds = app.get(DataSource);
    const onboarding = app.get(TenantOnboarding);
    for (const tier of ['starter', 'pro', 'enterprise'] as const) {
      ({ tenant: tenants[tier] } = await onboarding.createTenant(
        { slug: `${tier}-${uniqueToken(2)}`, name: `${tier} tenant`, tier },
        CTX,
      ));
    }
  });

  afterAll(async () => {
    await app?.close();
    aws?.onApplicationShutdown();
    for (const t of Object.values(tenants)) {
      await removeTenantInstance(prefix, t.slug);
    }
  });

  async function statusOf(id: string): Promise<string> {
    return (await ds.getRepository(TenantEntity).findOneByOrFail({ id })).status;
  }

  async function until(id: string, status: string, timeoutMs = 60_000): Promise<TenantEntity> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id });
      if (row.status === status) return row;
      if (row.status === 'FAILED')
        throw new Error(`tenant failed: ${row.failureStep} ${row.failureCode} ${row.failureMessage}`);
      if (Date.now() > deadline) throw new Error(`tenant still ${row.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('takes a starter, a pro and an enterprise tenant to ACTIVE with what each tier asks for', async () => {
    const EXPECTED = {
      starter: {
        DBInstanceClass: 'db.t3.micro',
        AllocatedStorage: 20,
        MultiAZ: false,
        DeletionProtection: false,
        BackupRetentionPeriod: 7,
      },
      pro: {
        DBInstanceClass: 'db.t3.small',
        AllocatedStorage: 100,
        MultiAZ: false,
        DeletionProtection: false,
        BackupRetentionPeriod: 14,
      },
      enterprise: {
        DBInstanceClass: 'db.m6i.large',
        AllocatedStorage: 500,
        MultiAZ: true,
        DeletionProtection: true,
        BackupRetentionPeriod: 35,
      },
    };
    for (const [tier, tenant] of Object.entries(tenants)) {
      const row = await until(tenant.id, 'ACTIVE');
      const id = `${prefix}-${tenant.slug}`;
      const { DBInstances } = await aws.rds.send(
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }),
      );
      expect(DBInstances).toHaveLength(1);
      expect(DBInstances![0]).toMatchObject({
        Engine: 'postgres',
        StorageEncrypted: true,
        ...EXPECTED[tier as keyof typeof EXPECTED],
      });
      expect(DBInstances![0].TagList).toEqual(
        expect.arrayContaining([
          { Key: 'silo:tenant-id', Value: tenant.id },
          { Key: 'silo:tenant-slug', Value: tenant.slug },
          { Key: 'silo:tier', Value: tier },
          { Key: 'silo:environment', Value: 'test' },
          { Key: 'managed-by', Value: 'silo' },
        ]),
      );

      const master = JSON.parse(
        (
          await aws.secretsManager.send(
            new GetSecretValueCommand({ SecretId: `${prefix}/${tenant.slug}/master` }),
          )
        ).SecretString!,
      ) as Record<string, unknown>;
      const app = JSON.parse(
        (
          await aws.secretsManager.send(
            new GetSecretValueCommand({ SecretId: `${prefix}/${tenant.slug}/app` }),
          )
        ).SecretString!,
      ) as Record<string, unknown>;
      const server = new URL(instanceAdminUrl());
      const shape = {
        engine: 'postgres',
        host: server.hostname,
        port: Number(server.port || 5432),
        dbname: id,
        dbInstanceIdentifier: id,
        password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      };
      expect(master).toEqual({ ...shape, username: `${prefix}_${tenant.slug}_admin`.replace(/-/g, '_') });
      // The first of the alternating logins; the app role itself holds the grants and never logs in.
      expect(app).toEqual({ ...shape, username: `${prefix}_${tenant.slug}_app_a`.replace(/-/g, '_') });

      const { MetricAlarms } = await aws.cloudWatch.send(
        new DescribeAlarmsCommand({
          AlarmNames: ['CPUUtilization', 'FreeStorageSpace', 'DatabaseConnections', 'FreeableMemory'].map(
            (m) => `${id}-${m}`,
          ),
        }),
      );
      expect(MetricAlarms?.map((a) => a.MetricName).sort()).toEqual(
        ['CPUUtilization', 'DatabaseConnections', 'FreeStorageSpace', 'FreeableMemory'].sort(),
      );
      expect(MetricAlarms?.every((a) => a.Dimensions?.[0]?.Value === id)).toBe(true);

      expect(row).toMatchObject({
        dbInstanceIdentifier: id,
        dbEndpointHost: server.hostname,
        dbName: id,
        schemaVersion: '0002',
        failureCode: null,
      });

      // The tenant database: migrated, and the app role can use notes but change nothing else.
      const asApp = new Client({
        host: shape.host,
        port: shape.port,
        database: id,
        user: app.username as string,
        password: app.password as string,
      });
      await asApp.connect();
      try {
        await asApp.query(`INSERT INTO app.notes (text) VALUES ($1)`, [`hello from ${tier}`]);
        const { rows } = await asApp.query<{ text: string }>(`SELECT text FROM app.notes`);
        expect(rows.map((r) => r.text)).toEqual([`hello from ${tier}`]);
        for (const forbidden of [
          'CREATE TABLE app.sneaky (id int)',
          'CREATE TABLE public.sneaky (id int)',
          'DROP TABLE app.notes',
          'CREATE SCHEMA sneaky',
        ]) {
          await expect(asApp.query(forbidden)).rejects.toMatchObject({ code: '42501' });
        }
      } finally {
        await asApp.end();
      }
      const asOwner = new Client({
        host: shape.host,
        port: shape.port,
        database: id,
        user: master.username as string,
        password: master.password as string,
      });
      await asOwner.connect();
      await asOwner.end();
    }
  });

  it('fails cleanly on a foreign secret in the way, and a retry runs again from fresh steps to ACTIVE', async () => {
    const onboarding = app.get(TenantOnboarding);
    const slug = `retry-${uniqueToken(2)}`;
    const foreign = `${prefix}/${slug}/master`;
    await aws.secretsManager.send(
      new CreateSecretCommand({
        Name: foreign,
        SecretString: 'not-silo',
        Tags: [{ Key: 'owner', Value: 'someone' }],
      }),
    );
    const { tenant } = await onboarding.createTenant({ slug, name: 'Retry Corp', tier: 'starter' }, CTX);
    tenants.retry = tenant;
    const failed = await until(tenant.id, 'FAILED');
    expect([failed.failureStep, failed.failureCode]).toEqual(['prepare-credentials', 'RESOURCE_NAME_TAKEN']);
    // Compensation left the foreign secret alone.
    await expect(
      aws.secretsManager.send(new GetSecretValueCommand({ SecretId: foreign })),
    ).resolves.toMatchObject({
      SecretString: 'not-silo',
    });

    await aws.secretsManager.send(
      new DeleteSecretCommand({ SecretId: foreign, ForceDeleteWithoutRecovery: true }),
    );
    await onboarding.retry(tenant.id, { actor: 'admin-test', correlationId: 'it-retry' });
    const active = await until(tenant.id, 'ACTIVE');
    expect(active).toMatchObject({ provisioningRun: 2, failureCode: null });
    const steps = await ds.getRepository(ProvisioningStepEntity).find({ where: { tenantId: tenant.id } });
    const byRun = (run: number) =>
      Object.fromEntries(steps.filter((s) => s.run === run).map((s) => [s.step, s.status]));
    expect(byRun(1)).toEqual({ 'prepare-credentials': 'compensated' });
    expect(Object.values(byRun(2))).toEqual(Array(8).fill('done'));
    expect(steps.filter((s) => s.run === 2).every((s) => s.attempts === 1)).toBe(true);
  });

  it('deprovisions: alarms removed, final snapshot where backups are kept, instance deleted, secrets scheduled for deletion', async () => {
    const onboarding = app.get(TenantOnboarding);
    for (const tier of ['starter', 'enterprise'] as const) {
      const tenant = tenants[tier];
      await until(tenant.id, 'ACTIVE');
      await onboarding.requestDeletion(tenant.id, CTX);
      await until(tenant.id, 'DELETED');
      const id = `${prefix}-${tenant.slug}`;
      await expect(
        aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })),
      ).rejects.toMatchObject({
        name: 'DBInstanceNotFoundFault',
      });
      const { MetricAlarms } = await aws.cloudWatch.send(
        new DescribeAlarmsCommand({ AlarmNamePrefix: `${id}-` }),
      );
      expect(MetricAlarms).toEqual([]);
      const { DBSnapshots } = await aws.rds.send(
        new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: id }),
      );
      expect(DBSnapshots?.map((s) => s.DBSnapshotIdentifier)).toEqual([
        expect.stringMatching(new RegExp(`^${id}-final-\\d{8}-\\d{6}$`)),
      ]);
      for (const kind of ['master', 'app']) {
        const secret = await aws.secretsManager.send(
          new DescribeSecretCommand({ SecretId: `${prefix}/${tenant.slug}/${kind}` }),
        );
        expect(secret.DeletedDate).toBeInstanceOf(Date);
      }
      const admin = new Client({ connectionString: instanceAdminUrl() });
      await admin.connect();
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [id]);
      await admin.end();
      expect(rowCount).toBe(0);
      expect(await statusOf(tenant.id)).toBe('DELETED');
    }
  });
});
