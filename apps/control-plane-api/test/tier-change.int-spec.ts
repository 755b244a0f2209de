import { DescribeAlarmsCommand, ListTagsForResourceCommand } from '@aws-sdk/client-cloudwatch';
import { CreateDBInstanceCommand, DescribeDBInstancesCommand, type DBInstance } from '@aws-sdk/client-rds';
import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AwsClients, RdsInstances } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import {
  HostEntity,
  OutboxMessageEntity,
  ProvisioningStepEntity,
  TenantChangeEntity,
  TenantEntity,
  TenantEventEntity,
} from '@silo/control-plane-db';
import { tenantResourceNames, tenantTags, type TierName } from '@silo/core';
import {
  ChangeStore,
  DEFAULT_TIER_PROFILES,
  ModifySaga,
  loadTierProfiles,
  RECONCILER_FLEET,
  Reconciler,
  SAGA_DEPS,
  TenantChanges,
  TenantOnboarding,
  tenantAlarmSpecs,
  type SagaOutcome,
  type StepDeps,
} from '@silo/fleet';
import { FleetInventory } from '@silo/aws';
import { ProvisioningQueue } from '@silo/queue';
import pino from 'pino';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstance } from '../../../test/support/local-tenant-instance';
import {
  fastLocalSagaEnvironment,
  INSTANCE_TIERS_FILE,
  testConfig,
  uniqueToken,
} from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { tenantResource } from '../src/tenants/tenant.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(120_000);

const prefix = `tc${uniqueToken(3)}`;
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:silo-tier-change-test-alarms';
const CTX = { actor: 'ops-test', correlationId: 'tier-change-it' };
const log = pino({ level: 'silent' });

/** Every tier an instance of its own, from a file written before placements: the modify saga runs on instances. */
const PROFILES = loadTierProfiles(INSTANCE_TIERS_FILE);

/** An SDK-shaped error, as the service would answer it. */
function awsFault(name: string, message: string): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    ...(name === 'Throttling' ? { $retryable: { throttling: true } } : {}),
  });
}

describe('tier changes of a live tenant (PATCH /v1/tenants/{id}) against the emulator', () => {
  let database: { name: string; url: string };
  let config: SiloConfig;
  let api: ApiHarness;
  let worker: INestApplicationContext | undefined;
  let ds: DataSource;
  let aws: AwsClients;
  let profilesDir: string;
  const slugs: string[] = [];

  beforeAll(async () => {
    database = await createOwnDatabase('tier_change');
    profilesDir = mkdtempSync(join(tmpdir(), 'silo-tier-change-'));
    config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: INSTANCE_TIERS_FILE,
      ...fastLocalSagaEnvironment(),
      ALARM_SNS_TOPIC_ARN: TOPIC,
      RECONCILE_INTERVAL_SECONDS: '3600',
    });
    aws = new AwsClients(config);
    api = await startApi(config);
    ds = api.app.get(DataSource);
  });

  afterAll(async () => {
    await api?.close();
    await worker?.close();
    aws?.onApplicationShutdown();
    for (const slug of slugs) await removeTenantInstance(prefix, slug);
    if (database) await dropDatabase(database.name);
    if (profilesDir) rmSync(profilesDir, { recursive: true, force: true });
  });

  const startWorker = async () => {
    worker ??= await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    return worker;
  };
  const patch = async (idOrSlug: string, body: object, roles: ('admin' | 'sre' | 'ops')[] = ['admin']) =>
    request(api.app.getHttpServer())
      .patch(`/v1/tenants/${idOrSlug}`)
      .set('authorization', await api.auth(roles, 'tier-admin'))
      .send(body);
  const get = async (id: string) => {
    const res = await request(api.app.getHttpServer())
      .get(`/v1/tenants/${id}`)
      .set('authorization', await api.auth(['sre']));
    expect(res.status).toBe(200);
    return tenantResource.parse(res.body);
  };
  const instance = async (slug: string): Promise<DBInstance> =>
    (
      await aws.rds.send(
        new DescribeDBInstancesCommand({
          DBInstanceIdentifier: tenantResourceNames(prefix, slug).instanceIdentifier,
        }),
      )
    ).DBInstances![0];
  const alarmsOf = async (slug: string) => {
    const names = tenantResourceNames(prefix, slug);
    const { MetricAlarms } = await aws.cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: `${names.instanceIdentifier}-` }),
    );
    return MetricAlarms ?? [];
  };
  const eventTypes = async (tenantId: string) =>
    (await ds.getRepository(TenantEventEntity).find({ where: { tenantId }, order: { id: 'ASC' } })).map(
      (e) => e.type,
    );
  const changes = (tenantId: string) =>
    ds.getRepository(TenantChangeEntity).find({ where: { tenantId }, order: { run: 'ASC' } });
  const settled = async (tenantId: string, run: number) =>
    eventually(async () => {
      const change = await ds.getRepository(TenantChangeEntity).findOneByOrFail({ tenantId, run });
      expect(['SUCCEEDED', 'FAILED']).toContain(change.status);
      return change;
    }, 60_000);
  /** What provisioning leaves behind for a tier, made directly in the emulator and the control plane. */
  const seedActive = async (slug: string, tier: TierName) => {
    const names = tenantResourceNames(prefix, slug);
    const profile = PROFILES[tier];
    const tenant = await ds.getRepository(TenantEntity).save(
      ds.getRepository(TenantEntity).create({
        slug,
        name: slug,
        tier,
        status: 'ACTIVE',
        dbInstanceIdentifier: names.instanceIdentifier,
        dbInstanceClass: profile.instanceClass,
      }),
    );
    const Tags = Object.entries(tenantTags(tenant, config.resources.environment)).map(([Key, Value]) => ({
      Key,
      Value,
    }));
    await aws.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: names.instanceIdentifier,
        Engine: 'postgres',
        DBInstanceClass: profile.instanceClass,
        AllocatedStorage: profile.storage.allocatedGiB,
        StorageType: 'gp3',
        MasterUsername: names.masterUsername,
        MasterUserPassword: 'not-a-real-password-0',
        BackupRetentionPeriod: profile.backupRetentionDays,
        Tags,
      }),
    );
    for (const name of [names.masterSecretName, names.appSecretName]) {
      await aws.secretsManager.send(new CreateSecretCommand({ Name: name, SecretString: '{}', Tags }));
    }
    return tenant;
  };

  it('refuses what RDS would refuse, a second change while one is open, and deletion under a running change; records nothing for a refusal', async () => {
    const held = await seedActive(`held-${uniqueToken(2)}`, 'starter');

    expect((await patch(held.id, { tier: 'pro' }, ['sre'])).status).toBe(403);
    expect((await patch(held.id, { tier: 'pro' }, ['ops'])).status).toBe(403);
    const badTier = await patch(held.id, { tier: 'platinum' });
    expect(badTier.status).toBe(400);
    expect(JSON.stringify(badTier.body)).toContain('tier');
    expect((await patch(held.id, { tier: 'pro', apply: 'tomorrow' })).status).toBe(400);
    expect((await patch(held.id, { tier: 'pro', extra: 1 })).status).toBe(400);
    const same = await patch(held.slug, { tier: 'starter' });
    expect(same.status).toBe(422);
    expect(same.body).toMatchObject({ rule: 'same-tier' });
    expect((await patch('no-such-tenant', { tier: 'pro' })).status).toBe(404);
    expect(await changes(held.id)).toEqual([]);

    // No worker runs yet: the change stays RUNNING, holding the tenant.
    const accepted = await patch(held.slug, { tier: 'pro' });
    expect(accepted.status).toBe(202);
    const view = tenantResource.parse(accepted.body);
    expect(view).toMatchObject({ tier: 'starter', status: 'ACTIVE' });
    expect(view.change).toMatchObject({
      kind: 'tier',
      run: 1,
      from: 'starter',
      to: 'pro',
      apply: 'now',
      status: 'RUNNING',
    });

    const second = await patch(held.id, { tier: 'enterprise' });
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ heldBy: 'change' });
    expect(second.body.detail).toContain('tier change to pro running');
    const deletion = await request(api.app.getHttpServer())
      .delete(`/v1/tenants/${held.id}?confirm=${held.slug}`)
      .set('authorization', await api.auth(['admin']));
    expect(deletion.status).toBe(409);
    expect(deletion.body).toMatchObject({ heldBy: 'change' });
    expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: held.id })).status).toBe('ACTIVE');
    expect((await changes(held.id)).map((c) => c.run)).toEqual([1]);
    expect(await ds.getRepository(OutboxMessageEntity).countBy({ jobName: 'modify-tenant' })).toBe(1);

    // With a worker the held change runs to the end.
    await startWorker();
    expect((await settled(held.id, 1)).status).toBe('SUCCEEDED');
    expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: held.id })).tier).toBe('pro');
    slugs.push(held.slug);
  });

  it('refuses a tier change to another placement with a 422 naming both placements, before RDS is asked; records nothing', async () => {
    // The built-in profiles: starter pooled, pro a schema each, enterprise an instance. Tenants
    // placed before placements existed are on instances whatever their tier.
    const builtIn = join(profilesDir, 'built-in-tiers.json');
    writeFileSync(
      builtIn,
      JSON.stringify({
        tiers: Object.fromEntries(
          Object.entries(DEFAULT_TIER_PROFILES).map(([name, { tier: _t, ...rest }]) => [name, rest]),
        ),
      }),
    );
    const placed = await startApi(
      testConfig({
        DATABASE_URL: database.url,
        SILO_RESOURCE_PREFIX: prefix,
        SILO_TIER_PROFILES_FILE: builtIn,
      }),
    );
    try {
      const own = await seedActive(`own-${uniqueToken(2)}`, 'enterprise');
      slugs.push(own.slug);
      // No instance at all: asking RDS first would answer instance-missing.
      const legacy = await ds.getRepository(TenantEntity).save(
        ds.getRepository(TenantEntity).create({
          slug: `legacy-${uniqueToken(2)}`,
          name: 'Legacy',
          tier: 'starter',
          status: 'ACTIVE',
        }),
      );
      const send = async (id: string, tier: TierName) =>
        request(placed.app.getHttpServer())
          .patch(`/v1/tenants/${id}`)
          .set('authorization', await placed.auth(['admin'], 'tier-admin'))
          .send({ tier });

      const ordinal = 100 + Math.floor(Math.random() * 900);
      const host = await ds.getRepository(HostEntity).save(
        ds.getRepository(HostEntity).create({
          name: `pool-starter-${ordinal}`,
          placement: 'pool',
          tier: 'starter',
          ordinal,
          status: 'creating',
          instanceIdentifier: `${prefix}-host-pool-starter-${ordinal}`,
          databaseName: 'pool',
          capacityTenants: 1000,
          connectionBudget: 200,
        }),
      );
      const pooled = await ds.getRepository(TenantEntity).save(
        ds.getRepository(TenantEntity).create({
          slug: `pooled-${uniqueToken(2)}`,
          name: 'Pooled',
          tier: 'starter',
          status: 'ACTIVE',
          placement: 'pool',
          hostId: host.id,
        }),
      );

      for (const [tenant, tier, fromPlacement, toPlacement] of [
        [own, 'starter', 'instance', 'pool'],
        [own, 'pro', 'instance', 'schema'],
        [legacy, 'pro', 'instance', 'schema'],
        [pooled, 'pro', 'pool', 'schema'],
        [pooled, 'enterprise', 'pool', 'instance'],
      ] as const) {
        const res = await send(tenant.id, tier);
        expect(res.status).toBe(422);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({
          title: 'Unprocessable Content',
          rule: 'placement-change',
          fromPlacement,
          toPlacement,
        });
        expect(res.body.detail).toContain(`the tenant's placement is ${fromPlacement} (`);
        expect(res.body.detail).toContain(`the ${tier} tier's is ${toPlacement} (`);
        expect(res.body.detail).toContain('POST /v1/tenants/{id}/move');
        expect(await changes(tenant.id)).toEqual([]);
      }
      expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: own.id })).tier).toBe('enterprise');
    } finally {
      await placed.close();
    }
  });

  it('starter → pro → enterprise → starter on a provisioned tenant: RDS, alarms and tags follow; storage never shrinks; the tenant stays ACTIVE', async () => {
    const w = await startWorker();
    const created = await w
      .get(TenantOnboarding)
      .createTenant({ slug: `grow-${uniqueToken(2)}`, name: 'Grow Corp', tier: 'starter' }, CTX);
    const tenant = created.tenant;
    slugs.push(tenant.slug);
    await eventually(async () => {
      expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).status).toBe('ACTIVE');
    }, 60_000);
    const names = tenantResourceNames(prefix, tenant.slug);

    const expectTier = async (tier: TierName, allocatedGiB: number) => {
      const profile = PROFILES[tier];
      const db = await instance(tenant.slug);
      expect({
        class: db.DBInstanceClass,
        storage: db.AllocatedStorage,
        multiAz: db.MultiAZ,
        deletionProtection: db.DeletionProtection,
        backups: db.BackupRetentionPeriod,
        tier: db.TagList?.find((t) => t.Key === 'silo:tier')?.Value,
      }).toEqual({
        class: profile.instanceClass,
        storage: allocatedGiB,
        multiAz: profile.multiAz,
        deletionProtection: profile.deletionProtection,
        backups: profile.backupRetentionDays,
        tier,
      });
      const expected = tenantAlarmSpecs(
        names,
        { ...profile, storage: { ...profile.storage, allocatedGiB } },
        { actions: [TOPIC], tags: {} },
      );
      const alarms = await alarmsOf(tenant.slug);
      expect(alarms.map((a) => [a.AlarmName, a.Threshold, a.AlarmActions, a.OKActions]).sort()).toEqual(
        expected.map((s) => [s.name, s.threshold, [TOPIC], [TOPIC]]).sort(),
      );
      for (const alarm of alarms) {
        const { Tags } = await aws.cloudWatch.send(
          new ListTagsForResourceCommand({ ResourceARN: alarm.AlarmArn }),
        );
        expect(Tags).toContainEqual({ Key: 'silo:tier', Value: tier });
      }
      for (const secret of [names.masterSecretName, names.appSecretName]) {
        const { Tags } = await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: secret }));
        expect(Tags).toContainEqual({ Key: 'silo:tier', Value: tier });
      }
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
      expect([row.tier, row.status, row.dbInstanceClass, row.dbMultiAz]).toEqual([
        tier,
        'ACTIVE',
        profile.instanceClass,
        profile.multiAz,
      ]);
    };

    // starter → pro
    expect((await patch(tenant.id, { tier: 'pro' })).status).toBe(202);
    expect((await settled(tenant.id, 1)).status).toBe('SUCCEEDED');
    await expectTier('pro', 100);
    const afterPro = await get(tenant.id);
    expect(afterPro.change).toMatchObject({ status: 'SUCCEEDED', from: 'starter', to: 'pro', error: null });
    expect(afterPro.change!.steps.map((s) => [s.name, s.saga, s.status])).toEqual([
      ['modify-instance', 'modify', 'done'],
      ['wait-modified', 'modify', 'done'],
      ['update-alarms', 'modify', 'done'],
      ['update-tags', 'modify', 'done'],
      ['record-tier', 'modify', 'done'],
    ]);
    // The provisioning steps are still the provisioning run's, not mixed with the change's.
    expect(afterPro.provisioning.steps.every((s) => s.saga === 'provision')).toBe(true);

    // A second storage change within six hours is refused, naming when it becomes possible.
    const tooSoon = await patch(tenant.id, { tier: 'enterprise' });
    expect(tooSoon.status).toBe(422);
    expect(tooSoon.body).toMatchObject({ rule: 'storage-cooldown' });
    expect(tooSoon.body.detail).toMatch(/allows the next storage change from \d{4}-/);
    expect((await changes(tenant.id)).length).toBe(1);

    // Six hours on (the record of the last storage change moved back, as time would).
    await ds.query(`UPDATE tenants SET storage_modified_at = now() - interval '7 hours' WHERE id = $1`, [
      tenant.id,
    ]);
    expect((await patch(tenant.id, { tier: 'enterprise' })).status).toBe(202);
    expect((await settled(tenant.id, 2)).status).toBe('SUCCEEDED');
    await expectTier('enterprise', 500);
    const db = await instance(tenant.slug);
    expect([db.Iops, db.StorageThroughput, db.StorageType]).toEqual([16_000, 1000, 'gp3']);

    // enterprise → starter: storage only grows, so it stays at 500 GiB and the change says so;
    // the free-storage alarm follows the 500 GiB the instance has.
    expect((await patch(tenant.id, { tier: 'starter' })).status).toBe(202);
    const down = await settled(tenant.id, 3);
    expect(down.status).toBe('SUCCEEDED');
    expect((await get(tenant.id)).change!.notes).toContain(
      'storage stays at 500 GiB (the starter tier has 20 GiB): RDS storage only grows',
    );
    await expectTier('starter', 500);

    const types = await eventTypes(tenant.id);
    expect(types.filter((t) => t === 'tenant.tier_changed')).toHaveLength(3);
    expect(types.filter((t) => t === 'tenant.change_requested')).toHaveLength(3);
    // Served throughout: no status change after activation.
    expect(types.slice(types.indexOf('tenant.activated') + 1)).not.toContainEqual(
      expect.stringMatching(/^tenant\.(suspended|deletion_requested|failed)$/),
    );

    // The reconciler finds nothing to repair on the changed tenant (storage above the tier, the
    // alarm thresholds for the storage it has).
    const result = await new Reconciler(
      ds,
      w.get(ProvisioningQueue),
      { stuckGraceMs: 60_000 },
      w.get(RECONCILER_FLEET),
      log,
    ).pass('test', 'tier-change-reconcile');
    if (result === 'busy') throw new Error('no other pass should run');
    expect((await get(tenant.id)).findings).toEqual([]);
  });

  it('a throttled ModifyDBInstance is retried; a refused one leaves the tenant on its tier, ACTIVE, with the error on the change', async () => {
    const w = await startWorker();
    await w.close();
    worker = undefined;
    // The saga runs here, over an RDS client that fails ModifyDBInstance as told; no worker.
    const faults: Error[] = [];
    const faulty = new AwsClients(config);
    faulty.rds.middlewareStack.add(
      (next, context) => async (args) => {
        const fault = context.commandName === 'ModifyDBInstanceCommand' ? faults.shift() : undefined;
        if (fault) throw fault;
        return next(args);
      },
      { step: 'initialize', name: 'injectModifyFaults' },
    );
    // The API's Nest context holds the same providers; it runs no queue worker.
    const context = api.app;
    try {
      const deps: StepDeps = { ...context.get<StepDeps>(SAGA_DEPS), rds: new RdsInstances(faulty) };
      const saga = new ModifySaga(deps, context.get(ChangeStore), context.get(FleetInventory), log);
      const runToEnd = async (tenantId: string) => {
        let outcome: SagaOutcome;
        do outcome = await saga.run(tenantId, CTX);
        while (outcome.kind === 'delay');
        return outcome;
      };
      const tenant = await seedActive(`flaky-${uniqueToken(2)}`, 'starter');
      slugs.push(tenant.slug);
      const requests = context.get(TenantChanges);

      faults.push(awsFault('Throttling', 'Rate exceeded'), awsFault('Throttling', 'Rate exceeded'));
      await requests.requestTierChange(tenant.id, { tier: 'pro', apply: 'now' }, CTX);
      expect(await runToEnd(tenant.id)).toEqual({ kind: 'finished', status: 'ACTIVE' });
      expect(
        (await ds.getRepository(TenantChangeEntity).findOneByOrFail({ tenantId: tenant.id, run: 1 })).status,
      ).toBe('SUCCEEDED');
      const step = await ds
        .getRepository(ProvisioningStepEntity)
        .findOneByOrFail({ tenantId: tenant.id, saga: 'modify', run: 1, step: 'modify-instance' });
      expect([step.status, step.failures]).toEqual(['done', 2]);
      expect((await eventTypes(tenant.id)).filter((t) => t === 'step.retrying')).toHaveLength(2);
      expect((await instance(tenant.slug)).DBInstanceClass).toBe('db.t3.small');

      await ds.query(`UPDATE tenants SET storage_modified_at = now() - interval '7 hours' WHERE id = $1`, [
        tenant.id,
      ]);
      faults.push(
        awsFault('InvalidParameterCombination', 'Multi-AZ is not supported for this configuration'),
      );
      await requests.requestTierChange(tenant.id, { tier: 'enterprise', apply: 'now' }, CTX);
      expect(await runToEnd(tenant.id)).toEqual({ kind: 'finished', status: 'ACTIVE' });
      const failed = await ds
        .getRepository(TenantChangeEntity)
        .findOneByOrFail({ tenantId: tenant.id, run: 2 });
      expect(failed).toMatchObject({
        status: 'FAILED',
        errorCode: 'AWS_REJECTED',
        errorStep: 'modify-instance',
      });
      expect(failed.errorMessage).toContain('Multi-AZ is not supported');
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
      expect([row.tier, row.status]).toEqual(['pro', 'ACTIVE']);
      expect((await instance(tenant.slug)).DBInstanceClass).toBe('db.t3.small');
      const lastEvent = await ds.getRepository(TenantEventEntity).findOneOrFail({
        where: { tenantId: tenant.id, type: 'tenant.change_failed' },
        order: { id: 'DESC' },
      });
      expect(lastEvent.message).toContain('pro → enterprise failed at modify-instance');
      // The alarms and tags never left the pro tier.
      const alarms = await alarmsOf(tenant.slug);
      expect(alarms.length).toBe(4);
      const { Tags } = await aws.secretsManager.send(
        new DescribeSecretCommand({ SecretId: tenantResourceNames(prefix, tenant.slug).appSecretName }),
      );
      expect(Tags).toContainEqual({ Key: 'silo:tier', Value: 'pro' });
      expect((await get(tenant.id)).change).toMatchObject({
        status: 'FAILED',
        error: { code: 'AWS_REJECTED', step: 'modify-instance' },
      });
    } finally {
      faulty.onApplicationShutdown();
    }
  });
  it('apply: maintenance-window parks the change PENDING_MAINTENANCE with RDS’s pending values; the reconciler brings its job back; it ends once they are applied', async () => {
    await worker?.close();
    worker = undefined;
    // moto applies every modification at once; this client shows the instance as RDS does in
    // the meantime: the old values, the new ones under PendingModifiedValues.
    let held: DBInstance | null = null;
    const deferring = new AwsClients(config);
    deferring.rds.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName !== 'DescribeDBInstancesCommand' || !held) return result;
        const output = result.output as { DBInstances?: DBInstance[] };
        const now = output.DBInstances?.[0];
        if (now) {
          output.DBInstances = [
            {
              ...now,
              DBInstanceClass: held.DBInstanceClass,
              AllocatedStorage: held.AllocatedStorage,
              PendingModifiedValues: {
                DBInstanceClass: now.DBInstanceClass,
                AllocatedStorage: now.AllocatedStorage,
              },
            },
          ];
        }
        return result;
      },
      { step: 'initialize', name: 'deferToMaintenanceWindow' },
    );
    const context = api.app;
    try {
      const deps: StepDeps = { ...context.get<StepDeps>(SAGA_DEPS), rds: new RdsInstances(deferring) };
      const saga = new ModifySaga(deps, context.get(ChangeStore), context.get(FleetInventory), log);
      const tenant = await seedActive(`later-${uniqueToken(2)}`, 'starter');
      slugs.push(tenant.slug);
      const accepted = await patch(tenant.id, { tier: 'pro', apply: 'maintenance-window' });
      expect(accepted.status).toBe(202);
      held = await instance(tenant.slug);

      let outcome: SagaOutcome;
      do outcome = await saga.run(tenant.id, CTX);
      while (outcome.kind === 'delay');
      const parked = await get(tenant.id);
      expect(parked.tier).toBe('starter');
      expect(parked.change).toMatchObject({
        status: 'PENDING_MAINTENANCE',
        apply: 'maintenance-window',
        pendingModifiedValues: { instanceClass: 'db.t3.small', allocatedGiB: 100 },
      });
      expect(parked.change!.steps.find((s) => s.name === 'wait-modified')?.status).toBe('waiting');
      // Still open: a second change is refused; the tenant is not compared with either tier.
      expect((await patch(tenant.id, { tier: 'enterprise' })).status).toBe(409);

      // A reconcile pass queues the change's job again (its last run completed) to look again.
      const jobId = `modify-${tenant.id}-1`;
      // (Relayed and run: this test ran the saga itself.)
      await ds.query(`UPDATE outbox SET dispatched_at = now() WHERE job_id = $1`, [jobId]);
      const discarded: string[] = [];
      const pass = await new Reconciler(
        ds,
        {
          jobFate: () => Promise.resolve('completed'),
          discardCompleted: (id) => Promise.resolve(void discarded.push(id)),
        },
        { stuckGraceMs: 60_000 },
        context.get(RECONCILER_FLEET),
        log,
      ).pass('test', 'maintenance-window-check');
      if (pass === 'busy') throw new Error('no other pass should run');
      expect(discarded).toContain(jobId);
      expect(await ds.getRepository(OutboxMessageEntity).countBy({ jobId })).toBe(2);
      expect((await get(tenant.id)).findings).toEqual([]);

      // The maintenance window comes: RDS reports the values applied.
      held = null;
      do outcome = await saga.run(tenant.id, CTX);
      while (outcome.kind === 'delay');
      const done = await get(tenant.id);
      expect(done.tier).toBe('pro');
      expect(done.change).toMatchObject({ status: 'SUCCEEDED', pendingModifiedValues: null });
      const types = await eventTypes(tenant.id);
      expect(types).toEqual(
        expect.arrayContaining(['tenant.change_pending', 'tenant.change_applied', 'tenant.tier_changed']),
      );
      expect(types.filter((t) => t === 'tenant.change_pending')).toHaveLength(1);
    } finally {
      deferring.onApplicationShutdown();
    }
  });
});
