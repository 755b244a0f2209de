import { randomUUID } from 'node:crypto';
import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateDBInstanceCommand,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  RemoveTagsFromResourceCommand,
} from '@aws-sdk/client-rds';
import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AwsClients } from '@silo/aws';
import { TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import { hostName, hostResourceNames, hostTags, tenantResourceNames } from '@silo/core';
import { RECONCILER_FLEET, Reconciler, TenantOnboarding, type ReconcileResult } from '@silo/fleet';
import { ProvisioningQueue } from '@silo/queue';
import pino from 'pino';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstance } from '../../../test/support/local-tenant-instance';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { orphanList, reconciliationResource } from '../src/reconcile/reconcile.responses';
import { tenantResource } from '../src/tenants/tenant.responses';
import { startApi, type ApiHarness } from './api-harness';
import { family, parseExposition } from './exposition';

jest.setTimeout(120_000);

const prefix = `rd${uniqueToken(3)}`;
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:silo-drift-test-alarms';
const CTX = { actor: 'ops-test', correlationId: 'drift-it' };
const log = pino({ level: 'silent' });

describe('the reconciler: drift repaired or reported, orphans listed and deleted on request', () => {
  let database: { name: string; url: string };
  let api: ApiHarness;
  const workers: INestApplicationContext[] = [];
  let ds: DataSource;
  let aws: AwsClients;
  let tenant: TenantEntity;
  const names = () => tenantResourceNames(prefix, tenant.slug);

  beforeAll(async () => {
    database = await createOwnDatabase('reconcile_drift');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      ALARM_SNS_TOPIC_ARN: TOPIC,
      RECONCILE_INTERVAL_SECONDS: '3600',
    });
    // Two worker replicas, as in production.
    for (let i = 0; i < 2; i++) {
      workers.push(
        await (await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()).init(),
      );
    }
    ds = workers[0].get(DataSource);
    aws = new AwsClients(config);
    api = await startApi(config);

    const created = await workers[0]
      .get(TenantOnboarding)
      .createTenant({ slug: `drift-${uniqueToken(2)}`, name: 'Drift Corp', tier: 'enterprise' }, CTX);
    tenant = created.tenant;
    await eventually(async () => {
      expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).status).toBe('ACTIVE');
    }, 60_000);
  });

  afterAll(async () => {
    await api?.close();
    for (const w of workers) await w.close();
    aws?.onApplicationShutdown();
    if (tenant) await removeTenantInstance(prefix, tenant.slug);
    if (database) await dropDatabase(database.name);
  });

  const reconciler = (replica = 0) =>
    new Reconciler(
      workers[replica].get(DataSource),
      workers[replica].get(ProvisioningQueue),
      { stuckGraceMs: 60_000 },
      workers[replica].get(RECONCILER_FLEET),
      log,
    );
  const pass = async (): Promise<ReconcileResult> => {
    const result = await reconciler().pass('test', `pass-${randomUUID()}`);
    if (result === 'busy') throw new Error('no other pass should be running');
    expect(result.fleet).not.toBeNull();
    return result;
  };
  const events = (types: string[]) =>
    ds
      .getRepository(TenantEventEntity)
      .find({ where: types.map((type) => ({ tenantId: tenant.id, type })), order: { id: 'ASC' } });
  const instance = async () =>
    (await aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: names().instanceIdentifier })))
      .DBInstances![0];
  const get = async (path: string) => {
    const res = await request(api.app.getHttpServer())
      .get(path)
      .set('authorization', await api.auth(['sre']));
    expect(res.status).toBe(200);
    return res.body as unknown;
  };
  const DRIFT_EVENTS = ['tenant.drift_repaired', 'tenant.drift_detected', 'tenant.drift_cleared'];

  it('finds an ACTIVE tenant as provisioned: nothing to repair or report', async () => {
    const result = await pass();
    expect(result.fleet).toMatchObject({ checked: 1, repaired: 0, reported: 0, critical: 0, orphans: 0 });
    expect(await events(DRIFT_EVENTS)).toEqual([]);
  });

  it('repairs protection, retention, a deleted alarm, a changed threshold and a stripped tag; reports the class; a second pass adds no events', async () => {
    const arn = (await instance()).DBInstanceArn!;
    await aws.rds.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: names().instanceIdentifier,
        DeletionProtection: false,
        BackupRetentionPeriod: 3,
        DBInstanceClass: 'db.r6g.large',
        ApplyImmediately: true,
      }),
    );
    await aws.rds.send(new RemoveTagsFromResourceCommand({ ResourceName: arn, TagKeys: ['silo:tier'] }));
    await aws.cloudWatch.send(new DeleteAlarmsCommand({ AlarmNames: [names().alarmName('CPUUtilization')] }));
    const [memory] = (
      await aws.cloudWatch.send(
        new DescribeAlarmsCommand({ AlarmNames: [names().alarmName('FreeableMemory')] }),
      )
    ).MetricAlarms!;
    await aws.cloudWatch.send(
      new PutMetricAlarmCommand({
        AlarmName: memory.AlarmName,
        Namespace: memory.Namespace,
        MetricName: memory.MetricName,
        Dimensions: memory.Dimensions,
        Statistic: memory.Statistic,
        Period: memory.Period,
        EvaluationPeriods: memory.EvaluationPeriods,
        Threshold: 1,
        ComparisonOperator: memory.ComparisonOperator,
        ActionsEnabled: false,
      }),
    );

    const first = await pass();
    expect(first.fleet).toMatchObject({ repaired: 8, reported: 1, critical: 0 });

    const after = await instance();
    expect({
      deletionProtection: after.DeletionProtection,
      backupRetention: after.BackupRetentionPeriod,
      tier: after.TagList?.find((t) => t.Key === 'silo:tier')?.Value,
      instanceClass: after.DBInstanceClass,
    }).toEqual({
      deletionProtection: true,
      backupRetention: 35,
      tier: 'enterprise',
      instanceClass: 'db.r6g.large',
    });
    const alarms = (
      await aws.cloudWatch.send(
        new DescribeAlarmsCommand({
          AlarmNames: [names().alarmName('CPUUtilization'), names().alarmName('FreeableMemory')],
        }),
      )
    ).MetricAlarms!.sort((a, b) => a.MetricName!.localeCompare(b.MetricName!));
    expect(alarms.map((a) => [a.MetricName, a.AlarmActions, a.OKActions, a.ActionsEnabled])).toEqual([
      ['CPUUtilization', [TOPIC], [TOPIC], true],
      ['FreeableMemory', [TOPIC], [TOPIC], true],
    ]);
    expect(alarms[1].Threshold).toBeGreaterThan(1);

    const repaired = await events(['tenant.drift_repaired']);
    expect(repaired.map((e) => e.data.field).sort()).toEqual([
      'alarm:CPUUtilization',
      'alarm:FreeableMemory.actionsEnabled',
      'alarm:FreeableMemory.alarmActions',
      'alarm:FreeableMemory.okActions',
      'alarm:FreeableMemory.threshold',
      'instance.backupRetentionDays',
      'instance.deletionProtection',
      'instance.tag:silo:tier',
    ]);
    expect(repaired.find((e) => e.data.field === 'instance.deletionProtection')?.data).toMatchObject({
      expected: 'true',
      found: 'false',
      kind: 'repairable',
    });
    expect(repaired.every((e) => e.actor === 'system:reconciler')).toBe(true);
    const detected = await events(['tenant.drift_detected']);
    expect(detected.map((e) => e.data)).toEqual([
      {
        field: 'instance.class',
        kind: 'reported',
        severity: 'warning',
        expected: 'db.m6i.large',
        found: 'db.r6g.large',
      },
    ]);

    const view = tenantResource.parse(await get(`/v1/tenants/${tenant.id}`));
    expect(view.findings).toEqual([
      expect.objectContaining({
        kind: 'reported',
        severity: 'warning',
        field: 'instance.class',
        expected: 'db.m6i.large',
        found: 'db.r6g.large',
        since: expect.any(String),
      }),
    ]);
    const report = reconciliationResource.parse(await get('/v1/reconciliation'));
    expect(report.lastPass).toMatchObject({ drift: { checked: 1, repaired: 8, reported: 1, critical: 0 } });
    expect(report.findings).toEqual([
      expect.objectContaining({ tenantId: tenant.id, tenantSlug: tenant.slug, field: 'instance.class' }),
    ]);

    const scraped = parseExposition(
      (
        await request(api.app.getHttpServer())
          .get('/metrics')
          .set('authorization', await api.auth(['sre']))
          .expect(200)
      ).text,
    );
    expect(family(scraped, 'silo_reconcile_findings')).toMatchObject({
      'silo_reconcile_findings{kind="reported",severity="warning"}': 1,
      'silo_reconcile_findings{kind="missing",severity="critical"}': 0,
      'silo_reconcile_findings{kind="repairable",severity="warning"}': 0,
    });
    // The workers' own scheduled pass counts too.
    const [{ finished }] = await ds.query<{ finished: number }[]>(
      `SELECT count(*)::int AS finished FROM reconcile_passes WHERE finished_at IS NOT NULL`,
    );
    expect(finished).toBeGreaterThanOrEqual(2);
    expect(scraped.samples['silo_reconcile_passes_total{outcome="ok"}']).toBe(finished);
    expect(scraped.samples['silo_reconcile_pass_duration_seconds_count']).toBe(finished);
    expect(scraped.samples['silo_reconcile_last_pass_timestamp_seconds']).toBeGreaterThan(0);

    const before = (await events(DRIFT_EVENTS)).length;
    const second = await pass();
    expect(second.fleet).toMatchObject({ repaired: 0, reported: 1 });
    expect((await events(DRIFT_EVENTS)).length).toBe(before);
    const again = tenantResource.parse(await get(`/v1/tenants/${tenant.id}`));
    expect(again.findings[0].since).toBe(view.findings[0].since);
  });

  it('clears a reported finding once the instance is back to its profile, with one event', async () => {
    await aws.rds.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: names().instanceIdentifier,
        DBInstanceClass: 'db.m6i.large',
        ApplyImmediately: true,
      }),
    );
    await pass();
    expect((await events(['tenant.drift_cleared'])).map((e) => e.data.field)).toEqual(['instance.class']);
    expect(tenantResource.parse(await get(`/v1/tenants/${tenant.id}`)).findings).toEqual([]);
    await pass();
    expect(await events(['tenant.drift_cleared'])).toHaveLength(1);
  });

  it('lists orphans tagged for this environment, not those of another, and deletes only the listed ones on request', async () => {
    const ghost = { id: randomUUID(), slug: `ghost-${uniqueToken(2)}` };
    const tags = (environment: string, who = ghost) => [
      { Key: 'managed-by', Value: 'silo' },
      { Key: 'silo:environment', Value: environment },
      { Key: 'silo:tenant-id', Value: who.id },
      { Key: 'silo:tenant-slug', Value: who.slug },
      { Key: 'silo:tier', Value: 'starter' },
    ];
    const ghostNames = tenantResourceNames(prefix, ghost.slug);
    const elsewhere = { id: randomUUID(), slug: `else-${uniqueToken(2)}` };
    const createInstance = (identifier: string, environment: string, who: typeof ghost) =>
      aws.rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: identifier,
          Engine: 'postgres',
          DBInstanceClass: 'db.t3.micro',
          AllocatedStorage: 20,
          MasterUsername: 'orphan',
          MasterUserPassword: `x${randomUUID()}`,
          Tags: tags(environment, who),
        }),
      );
    await createInstance(ghostNames.instanceIdentifier, 'test', ghost);
    await createInstance(
      tenantResourceNames(prefix, elsewhere.slug).instanceIdentifier,
      'staging',
      elsewhere,
    );
    await aws.secretsManager.send(
      new CreateSecretCommand({ Name: ghostNames.masterSecretName, SecretString: '{}', Tags: tags('test') }),
    );
    await aws.cloudWatch.send(
      new PutMetricAlarmCommand({
        AlarmName: ghostNames.alarmName('CPUUtilization'),
        Namespace: 'AWS/RDS',
        MetricName: 'CPUUtilization',
        Dimensions: [{ Name: 'DBInstanceIdentifier', Value: ghostNames.instanceIdentifier }],
        Statistic: 'Average',
        Period: 300,
        EvaluationPeriods: 3,
        Threshold: 90,
        ComparisonOperator: 'GreaterThanThreshold',
        Tags: tags('test'),
      }),
    );

    const result = await pass();
    expect(result.fleet?.orphans).toBe(3);
    // Scrapes share a snapshot for two seconds: wait for one taken after the pass.
    await eventually(async () => {
      const scraped = parseExposition(
        (
          await request(api.app.getHttpServer())
            .get('/metrics')
            .set('authorization', await api.auth(['sre']))
            .expect(200)
        ).text,
      );
      expect(family(scraped, 'silo_reconcile_orphans')).toEqual({
        'silo_reconcile_orphans{type="instance"}': 1,
        'silo_reconcile_orphans{type="secret"}': 1,
        'silo_reconcile_orphans{type="alarm"}': 1,
        'silo_reconcile_orphans{type="snapshot"}': 0,
      });
    }, 10_000);
    const listed = orphanList.parse(await get('/v1/orphans'));
    expect(listed.items.map((o) => [o.type, o.name, o.tenantId]).sort()).toEqual(
      [
        ['alarm', ghostNames.alarmName('CPUUtilization'), ghost.id],
        ['instance', ghostNames.instanceIdentifier, ghost.id],
        ['secret', ghostNames.masterSecretName, ghost.id],
      ].sort(),
    );
    expect(listed.items.find((o) => o.type === 'instance')?.tags).toMatchObject({
      'silo:environment': 'test',
    });

    const server = api.app.getHttpServer();
    const admin = await api.auth(['admin'], 'orphan-admin');
    const other = tenantResourceNames(prefix, elsewhere.slug).instanceIdentifier;
    expect(
      (
        await request(server)
          .post('/v1/orphans/delete')
          .set('authorization', await api.auth(['sre']))
          .send({ items: [{ type: 'instance', name: ghostNames.instanceIdentifier }] })
      ).status,
    ).toBe(403);
    const refused = await request(server)
      .post('/v1/orphans/delete')
      .set('authorization', admin)
      .send({
        items: [
          { type: 'instance', name: ghostNames.instanceIdentifier },
          { type: 'instance', name: other },
        ],
      });
    expect(refused.status).toBe(422);
    expect(refused.body.items).toEqual([{ type: 'instance', name: other }]);
    expect(orphanList.parse(await get('/v1/orphans')).items.every((o) => o.deletion === null)).toBe(true);
    const bad = await request(server)
      .post('/v1/orphans/delete')
      .set('authorization', admin)
      .send({ items: [{ type: 'bucket', name: 'x' }] });
    expect(bad.status).toBe(400);

    const queued = await request(server)
      .post('/v1/orphans/delete')
      .set('authorization', admin)
      .send({
        items: [
          { type: 'instance', name: ghostNames.instanceIdentifier },
          { type: 'secret', name: ghostNames.masterSecretName },
        ],
      });
    expect(queued.status).toBe(202);
    expect(queued.body.jobId).toMatch(/^delete-orphans-/);

    await eventually(async () => {
      const items = orphanList.parse(await get('/v1/orphans')).items;
      expect(items.map((o) => o.type)).toEqual(['alarm']);
    }, 30_000);
    const gone = await aws.rds
      .send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: ghostNames.instanceIdentifier }))
      .then((r) => r.DBInstances?.[0]?.DBInstanceStatus ?? 'gone')
      .catch(() => 'gone');
    expect(['gone', 'deleting']).toContain(gone);
    const secret = await aws.secretsManager.send(
      new DescribeSecretCommand({ SecretId: ghostNames.masterSecretName }),
    );
    expect(secret.DeletedDate).toBeDefined();
    // The one tagged for another environment was never touched.
    expect(
      (await aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: other }))).DBInstances,
    ).toHaveLength(1);
    // The alarm was not asked for: still there, still listed after the next pass.
    await pass();
    expect(orphanList.parse(await get('/v1/orphans')).items.map((o) => [o.type, o.name])).toEqual([
      ['alarm', ghostNames.alarmName('CPUUtilization')],
    ]);
  });

  it('runs one pass at a time across two worker replicas: passes never overlap', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => reconciler(i % 2).pass(`replica-${i % 2}`, `race-${i}`)),
    );
    expect(results.filter((r) => r !== 'busy').length).toBeGreaterThanOrEqual(1);
    const passes = await ds.query<{ started_at: Date; finished_at: Date }[]>(
      `SELECT started_at, finished_at FROM reconcile_passes WHERE triggered_by LIKE 'replica-%' ORDER BY started_at`,
    );
    expect(passes.length).toBe(results.filter((r) => r !== 'busy').length);
    for (let i = 1; i < passes.length; i++) {
      expect(passes[i].started_at.getTime()).toBeGreaterThanOrEqual(passes[i - 1].finished_at.getTime());
    }
  });

  it("reads a shared host's resources as the host's and a pooled tenant as having no instance of its own", async () => {
    const host = { id: randomUUID(), name: hostName('pool', 'starter', 1) };
    const hostNames = hostResourceNames(prefix, host.name);
    await ds.query(
      `INSERT INTO hosts (id, name, placement, tier, ordinal, status, instance_identifier, endpoint_host, endpoint_port,
                          database_name, capacity_tenants, connection_budget)
       VALUES ($1, $2, 'pool', 'starter', 1, 'available', $3, '127.0.0.1', 5432, 'silo', 10, 20)`,
      [host.id, host.name, hostNames.instanceIdentifier],
    );
    await aws.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: hostNames.instanceIdentifier,
        Engine: 'postgres',
        DBInstanceClass: 'db.t4g.medium',
        AllocatedStorage: 200,
        MasterUsername: 'hostadmin',
        MasterUserPassword: `x${randomUUID()}`,
        Tags: Object.entries(hostTags({ ...host, placement: 'pool', tier: 'starter' }, 'test')).map(
          ([Key, Value]) => ({
            Key,
            Value,
          }),
        ),
      }),
    );
    const pooled = await ds.getRepository(TenantEntity).save({
      id: randomUUID(),
      slug: `pooled-${uniqueToken(2)}`,
      name: 'Pooled',
      tier: 'starter',
      status: 'ACTIVE',
      placement: 'pool',
      hostId: host.id,
      schemaVersion: '0002',
    });
    try {
      const result = await pass();
      // The host's instance is no orphan, and the pooled tenant misses no instance, secret or alarm.
      expect(orphanList.parse(await get('/v1/orphans')).items.map((o) => o.name)).not.toContain(
        hostNames.instanceIdentifier,
      );
      expect(
        await ds.query('SELECT field FROM reconcile_findings WHERE tenant_id = $1', [pooled.id]),
      ).toEqual([]);
      expect(result.fleet?.checked).toBeGreaterThanOrEqual(2);

      // Once the host is recorded as deleted, an instance still tagged for it is an orphan.
      await ds.getRepository(TenantEntity).update({ id: pooled.id }, { status: 'DELETED' });
      await ds.query(`UPDATE hosts SET status = 'deleted', deleted_at = now() WHERE id = $1`, [host.id]);
      await pass();
      expect(orphanList.parse(await get('/v1/orphans')).items.map((o) => [o.type, o.name])).toContainEqual([
        'instance',
        hostNames.instanceIdentifier,
      ]);
    } finally {
      await aws.rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: hostNames.instanceIdentifier,
          SkipFinalSnapshot: true,
        }),
      );
    }
  });
});
