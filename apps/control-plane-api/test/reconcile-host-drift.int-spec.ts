import { randomUUID } from 'node:crypto';
import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateDBInstanceCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  RemoveTagsFromResourceCommand,
} from '@aws-sdk/client-rds';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AwsClients } from '@silo/aws';
import { HostEntity, TenantEntity } from '@silo/control-plane-db';
import { hostName, hostResourceNames, hostTags } from '@silo/core';
import {
  DEFAULT_TIER_PROFILES,
  RECONCILER_FLEET,
  Reconciler,
  TenantOnboarding,
  type ReconcileResult,
} from '@silo/fleet';
import { ProvisioningQueue } from '@silo/queue';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { hostResource } from '../src/hosts/host.responses';
import { orphanList, reconciliationResource } from '../src/reconcile/reconcile.responses';
import { startApi, type ApiHarness } from './api-harness';
import { family, parseExposition } from './exposition';

jest.setTimeout(180_000);

const prefix = `rh${uniqueToken(3)}`;
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:silo-host-drift-test-alarms';
const CTX = { actor: 'ops-test', correlationId: 'host-drift-it' };

describe('the reconciler on shared hosts: drift repaired or reported, orphans of deleted hosts deleted on request', () => {
  let database: { name: string; url: string };
  let api: ApiHarness;
  let worker: INestApplicationContext;
  let ds: DataSource;
  let aws: AwsClients;
  let host: HostEntity;
  const names = () => hostResourceNames(prefix, host.name);
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const push = (fields: object, message: string) =>
    lines.push({ fields: fields as Record<string, unknown>, message });
  const log = { info: push, warn: push, error: push };

  beforeAll(async () => {
    database = await createOwnDatabase('reconcile_host_drift');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
      ...fastLocalSagaEnvironment(),
      ALARM_SNS_TOPIC_ARN: TOPIC,
      RECONCILE_INTERVAL_SECONDS: '3600',
    });
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    ds = worker.get(DataSource);
    aws = new AwsClients(config);
    api = await startApi(config);

    const { tenant } = await worker
      .get(TenantOnboarding)
      .createTenant({ slug: `pooled-${uniqueToken(2)}`, name: 'Pooled', tier: 'starter' }, CTX);
    await eventually(async () => {
      expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).status).toBe('ACTIVE');
    }, 90_000);
    const placed = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    host = await ds.getRepository(HostEntity).findOneByOrFail({ id: placed.hostId! });
  });

  afterAll(async () => {
    await api?.close();
    await worker?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  const pass = async (): Promise<ReconcileResult> => {
    const result = await new Reconciler(
      ds,
      worker.get(ProvisioningQueue),
      { stuckGraceMs: 60_000 },
      worker.get(RECONCILER_FLEET),
      log,
    ).pass('test', `pass-${randomUUID()}`);
    if (result === 'busy') throw new Error('no other pass should be running');
    expect(result.fleet).not.toBeNull();
    return result;
  };
  const get = async (path: string) => {
    const res = await request(api.app.getHttpServer())
      .get(path)
      .set('authorization', await api.auth(['sre']));
    expect(res.status).toBe(200);
    return res.body as unknown;
  };
  const instance = async () =>
    (await aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: names().instanceIdentifier })))
      .DBInstances![0];
  const logged = (message: string) => lines.filter((l) => l.message === message).map((l) => l.fields);

  it('finds a host as its saga made it: compared, nothing to repair or report', async () => {
    expect(host.status).toBe('available');
    const result = await pass();
    expect(result.fleet).toMatchObject({ hostsChecked: 1, repaired: 0, reported: 0, critical: 0 });
    expect(await ds.query('SELECT field FROM reconcile_host_findings')).toEqual([]);
    const report = reconciliationResource.parse(await get('/v1/reconciliation'));
    expect(report.lastPass?.drift).toMatchObject({ hostsChecked: 1, repaired: 0 });
    expect(report.hostFindings).toEqual([]);
    expect(hostResource.parse(await get(`/v1/hosts/${host.id}`)).findings).toEqual([]);
  });

  it('repairs the host’s protection, retention, tag and alarms, reports its class and a budget its class no longer holds, and calls a lost pool-app secret critical', async () => {
    const arn = (await instance()).DBInstanceArn!;
    await aws.rds.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: names().instanceIdentifier,
        DeletionProtection: false,
        BackupRetentionPeriod: 1,
        DBInstanceClass: 'db.t4g.small',
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
        ActionsEnabled: true,
        AlarmActions: [TOPIC],
        OKActions: [TOPIC],
      }),
    );
    await aws.secretsManager.send(
      new DeleteSecretCommand({ SecretId: names().poolAppSecretName, ForceDeleteWithoutRecovery: true }),
    );

    const first = await pass();
    expect(first.fleet).toMatchObject({ hostsChecked: 1, repaired: 5, reported: 2, critical: 1 });

    const after = await instance();
    expect({
      deletionProtection: after.DeletionProtection,
      backupRetention: after.BackupRetentionPeriod,
      tier: after.TagList?.find((t) => t.Key === 'silo:tier')?.Value,
      instanceClass: after.DBInstanceClass,
    }).toEqual({
      deletionProtection: true,
      backupRetention: DEFAULT_TIER_PROFILES.starter.backupRetentionDays,
      tier: 'starter',
      instanceClass: 'db.t4g.small',
    });
    const alarms = (
      await aws.cloudWatch.send(
        new DescribeAlarmsCommand({
          AlarmNames: [names().alarmName('CPUUtilization'), names().alarmName('FreeableMemory')],
        }),
      )
    ).MetricAlarms!.sort((a, b) => a.MetricName!.localeCompare(b.MetricName!));
    expect(alarms.map((a) => [a.MetricName, a.AlarmActions, a.ActionsEnabled])).toEqual([
      ['CPUUtilization', [TOPIC], true],
      ['FreeableMemory', [TOPIC], true],
    ]);
    expect(alarms[1].Threshold).toBeGreaterThan(1);
    expect(logged('host drift repaired').map((f) => f.field)).toEqual(
      expect.arrayContaining([
        'instance.deletionProtection',
        'instance.backupRetentionDays',
        'instance.tag:silo:tier',
        'alarm:CPUUtilization',
        'alarm:FreeableMemory.threshold',
      ]),
    );
    expect(logged('host drift detected').map((f) => [f.hostId, f.field, f.severity])).toEqual([
      [host.id, 'host.connectionBudget', 'warning'],
      [host.id, 'instance.class', 'warning'],
      [host.id, 'secret:pool-app', 'critical'],
    ]);

    const report = reconciliationResource.parse(await get('/v1/reconciliation'));
    expect(report.lastPass?.drift).toMatchObject({ hostsChecked: 1, repaired: 5, reported: 2, critical: 1 });
    expect(report.findings).toEqual([]);
    expect(
      report.hostFindings.map((f) => [f.hostName, f.field, f.kind, f.severity, f.expected, f.found]),
    ).toEqual([
      [host.name, 'secret:pool-app', 'missing', 'critical', names().poolAppSecretName, '(absent)'],
      [
        host.name,
        'host.connectionBudget',
        'reported',
        'warning',
        '<= 180 (80% of max_connections 225 of db.t4g.small)',
        String(host.connectionBudget),
      ],
      [host.name, 'instance.class', 'reported', 'warning', 'db.t4g.medium', 'db.t4g.small'],
    ]);
    expect(report.hostFindings.every((f) => f.hostId === host.id)).toBe(true);
    const view = hostResource.parse(await get(`/v1/hosts/${host.id}`));
    expect(view.findings.map((f) => f.field)).toEqual([
      'secret:pool-app',
      'host.connectionBudget',
      'instance.class',
    ]);
    // The host list carries them too.
    const listed = (await get('/v1/hosts')) as { items: { id: string; findings: unknown[] }[] };
    expect(listed.items.find((h) => h.id === host.id)?.findings).toHaveLength(3);

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
      expect(family(scraped, 'silo_reconcile_host_findings')).toMatchObject({
        'silo_reconcile_host_findings{kind="reported",severity="warning"}': 2,
        'silo_reconcile_host_findings{kind="missing",severity="critical"}': 1,
        'silo_reconcile_host_findings{kind="repairable",severity="warning"}': 0,
      });
    }, 10_000);

    // Seen again: nothing repaired, nothing logged as new, the same findings since the same time.
    const detectedBefore = logged('host drift detected').length;
    const second = await pass();
    expect(second.fleet).toMatchObject({ repaired: 0, reported: 2, critical: 1 });
    expect(logged('host drift detected')).toHaveLength(detectedBefore);
    const again = hostResource.parse(await get(`/v1/hosts/${host.id}`));
    expect(again.findings.map((f) => f.since)).toEqual(view.findings.map((f) => f.since));
  });

  it('clears the class and budget findings once the instance is back to the tier’s host sizing', async () => {
    await aws.rds.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: names().instanceIdentifier,
        DBInstanceClass: DEFAULT_TIER_PROFILES.starter.instanceClass,
        ApplyImmediately: true,
      }),
    );
    await pass();
    expect(logged('host drift cleared').map((f) => f.field)).toEqual([
      'host.connectionBudget',
      'instance.class',
    ]);
    expect(hostResource.parse(await get(`/v1/hosts/${host.id}`)).findings.map((f) => f.field)).toEqual([
      'secret:pool-app',
    ]);
  });

  it('lists what a deleted host left behind (instance, secret, alarm) as orphans and deletes them on request', async () => {
    const left = { id: randomUUID(), name: hostName('pool', 'starter', 2) };
    const leftNames = hostResourceNames(prefix, left.name);
    await ds.query(
      `INSERT INTO hosts (id, name, placement, tier, ordinal, status, instance_identifier, database_name,
                          capacity_tenants, connection_budget, deleted_at)
       VALUES ($1, $2, 'pool', 'starter', 2, 'deleted', $3, 'app', 10, 20, now())`,
      [left.id, left.name, leftNames.instanceIdentifier],
    );
    const tags = Object.entries(hostTags({ ...left, placement: 'pool', tier: 'starter' }, 'test')).map(
      ([Key, Value]) => ({ Key, Value }),
    );
    await aws.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: leftNames.instanceIdentifier,
        Engine: 'postgres',
        DBInstanceClass: 'db.t4g.medium',
        AllocatedStorage: 20,
        MasterUsername: 'hostadmin',
        MasterUserPassword: `x${randomUUID()}`,
        Tags: tags,
      }),
    );
    await aws.secretsManager.send(
      new CreateSecretCommand({ Name: leftNames.masterSecretName, SecretString: '{}', Tags: tags }),
    );
    await aws.cloudWatch.send(
      new PutMetricAlarmCommand({
        AlarmName: leftNames.alarmName('CPUUtilization'),
        Namespace: 'AWS/RDS',
        MetricName: 'CPUUtilization',
        Dimensions: [{ Name: 'DBInstanceIdentifier', Value: leftNames.instanceIdentifier }],
        Statistic: 'Average',
        Period: 300,
        EvaluationPeriods: 3,
        Threshold: 80,
        ComparisonOperator: 'GreaterThanThreshold',
        Tags: tags,
      }),
    );

    const result = await pass();
    expect(result.fleet?.orphans).toBe(3);
    const listed = orphanList.parse(await get('/v1/orphans'));
    expect(listed.items.map((o) => [o.type, o.name, o.tenantId, o.tags['silo:host-id']]).sort()).toEqual(
      [
        ['alarm', leftNames.alarmName('CPUUtilization'), '', left.id],
        ['instance', leftNames.instanceIdentifier, '', left.id],
        ['secret', leftNames.masterSecretName, '', left.id],
      ].sort(),
    );
    // The live host's resources are its own, never orphans.
    expect(listed.items.map((o) => o.name)).not.toContain(names().instanceIdentifier);

    const queued = await request(api.app.getHttpServer())
      .post('/v1/orphans/delete')
      .set('authorization', await api.auth(['admin'], 'orphan-admin'))
      .send({ items: listed.items.map((o) => ({ type: o.type, name: o.name })) });
    expect(queued.status).toBe(202);
    await eventually(async () => {
      expect(orphanList.parse(await get('/v1/orphans')).items).toEqual([]);
    }, 30_000);
    const gone = await aws.rds
      .send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: leftNames.instanceIdentifier }))
      .then((r) => r.DBInstances?.[0]?.DBInstanceStatus ?? 'gone')
      .catch(() => 'gone');
    expect(['gone', 'deleting']).toContain(gone);
    const secret = await aws.secretsManager.send(
      new DescribeSecretCommand({ SecretId: leftNames.masterSecretName }),
    );
    expect(secret.DeletedDate).toBeDefined();
    expect(
      (
        await aws.cloudWatch.send(
          new DescribeAlarmsCommand({ AlarmNames: [leftNames.alarmName('CPUUtilization')] }),
        )
      ).MetricAlarms,
    ).toEqual([]);
    // Deleted, not merely forgotten: the next pass finds none of them again.
    expect((await pass()).fleet?.orphans).toBe(0);
  });
});
