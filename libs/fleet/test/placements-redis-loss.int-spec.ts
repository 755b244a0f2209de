import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import IORedis from 'ioredis';
import pino from 'pino';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import {
  fastLocalSagaEnvironment,
  testConfig,
  testQueuePrefix,
  uniqueToken,
} from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { testServices } from '../../../test/support/test-services';
import { AwsClients, RdsInstances } from '../../aws/src';
import { HostEntity, TenantEntity, TenantEventEntity } from '../../control-plane-db/src';
import { ProvisioningQueue } from '../../queue/src';
import { HostRetirement, HostSweep, RECONCILER_FLEET, Reconciler, TenantOnboarding } from '../src';
import { heldHostInstances } from './held-rds';

jest.setTimeout(180_000);

const prefix = `rl${uniqueToken(3)}`;
const queuePrefix = testQueuePrefix();
const CTX = { actor: 'ops-test', correlationId: 'placements-redis-loss' };
const log = pino({ level: 'silent' });

const { held, provider: heldRds } = heldHostInstances(prefix);

describe('shared placements after Redis lost every job', () => {
  let database: { name: string; url: string };
  let worker: INestApplicationContext;
  let ds: DataSource;
  let aws: AwsClients;
  let onboarding: TenantOnboarding;
  const tenants: TenantEntity[] = [];

  beforeAll(async () => {
    // A database of its own: hosts are per tier and placement, and no other file may take these.
    database = await createOwnDatabase('placements_redis');
    const config = testConfig({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: queuePrefix,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
      ...fastLocalSagaEnvironment(),
      WORKER_CONCURRENCY: '2',
      // Passes run when the test says so.
      RECONCILE_INTERVAL_SECONDS: '3600',
      RECONCILE_STUCK_GRACE_SECONDS: '1',
    });
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] })
        .overrideProvider(RdsInstances)
        .useFactory(heldRds)
        .compile()
    ).init();
    ds = worker.get(DataSource);
    aws = new AwsClients(config);
    onboarding = worker.get(TenantOnboarding);
  });

  afterAll(async () => {
    await worker?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  const reconciler = () =>
    new Reconciler(
      ds,
      worker.get(ProvisioningQueue),
      { stuckGraceMs: 1000 },
      worker.get(RECONCILER_FLEET),
      log,
    );

  async function flushQueue(): Promise<number> {
    const redis = new IORedis(testServices.redisUrl);
    try {
      const keys = await redis.keys(`${queuePrefix}:*`);
      if (keys.length) await redis.del(...keys);
      return keys.length;
    } finally {
      redis.disconnect();
    }
  }

  /**
   * Every outbox row handed to Redis, then every BullMQ key deleted: every job there is, lost.
   * Returns how many keys went. A pass running meanwhile finishes against the database and
   * finds its job gone (it cannot be delayed or completed any more); the wait lets it end before
   * the test changes what RDS reports.
   */
  async function loseEveryJob(): Promise<number> {
    await eventually(async () => {
      const [{ n }] = await ds.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM outbox WHERE dispatched_at IS NULL`,
      );
      expect(n).toBe(0);
    });
    const flushed = await flushQueue();
    await new Promise((r) => setTimeout(r, 1000));
    return flushed;
  }

  /** Each tenant's and host's steps, `step:status`, in order. */
  async function journal(): Promise<{ tenants: string[][]; hosts: Record<string, string[]> }> {
    const tenantSteps = await Promise.all(
      tenants.map((t) =>
        ds.query<{ s: string }[]>(
          `SELECT step || ':' || status AS s FROM provisioning_steps
            WHERE tenant_id = $1 AND saga = 'provision' ORDER BY position`,
          [t.id],
        ),
      ),
    );
    const hostSteps = await ds.query<{ name: string; steps: string[] }[]>(
      `SELECT h.name, array_agg(s.step || ':' || s.status ORDER BY s.saga, s.position) AS steps
         FROM hosts h JOIN host_steps s ON s.host_id = h.id GROUP BY h.name`,
    );
    return {
      tenants: tenantSteps.map((rows) => rows.map((r) => r.s)),
      hosts: Object.fromEntries(hostSteps.map((h) => [h.name, h.steps])),
    };
  }

  const hosts = () => ds.getRepository(HostEntity).find({ order: { name: 'ASC' } });
  const statuses = async () =>
    (await ds.getRepository(TenantEntity).findBy(tenants.map((t) => ({ id: t.id })))).map((t) => t.status);

  it('re-drives a pool and a schema tenant waiting for their new hosts, and the hosts waiting for their instances, once every BullMQ key is gone', async () => {
    held.creating = true;
    for (const tier of ['starter', 'pro'] as const) {
      tenants.push(
        (await onboarding.createTenant({ slug: `rl-${tier}-${uniqueToken(2)}`, name: tier, tier }, CTX))
          .tenant,
      );
    }
    // The tenants wait for their hosts, the hosts for their instances: jobs delayed in Redis.
    await eventually(async () => {
      const now = await journal();
      expect(now.tenants).toEqual([
        ['place:done', 'wait-host:waiting'],
        ['place:done', 'wait-host:waiting'],
      ]);
      expect(now.hosts).toEqual({
        [`pool-starter-001`]: ['prepare-credentials:done', 'create-instance:done', 'wait-available:waiting'],
        [`schema-pro-001`]: ['prepare-credentials:done', 'create-instance:done', 'wait-available:waiting'],
      });
    }, 30_000);
    expect(await loseEveryJob()).toBeGreaterThan(0);
    held.creating = false;

    // Nothing drives them any more.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await statuses()).toEqual(['PROVISIONING', 'PROVISIONING']);
    expect((await hosts()).map((h) => h.status)).toEqual(['creating', 'creating']);

    // One pass queues the jobs of both tenants and of both hosts again: the tenants' wait-host
    // would otherwise wait for ever on hosts nobody makes.
    expect(await reconciler().pass('test', 'after-flush')).toMatchObject({ redriven: 4 });
    // A second pass finds their jobs queued or live: nothing to do.
    expect(await reconciler().pass('test', 'again')).toMatchObject({ redriven: 0 });

    await eventually(async () => expect(await statuses()).toEqual(['ACTIVE', 'ACTIVE']), 60_000);
    expect((await hosts()).map((h) => [h.name, h.status])).toEqual([
      ['pool-starter-001', 'available'],
      ['schema-pro-001', 'available'],
    ]);
    // Each instance made once, by the crashed run: the re-driven one found it.
    const instances = await ds.query<{ step: string; attempts: number }[]>(
      `SELECT step, attempts FROM host_steps WHERE step IN ('prepare-credentials', 'create-instance')`,
    );
    expect(instances.map((s) => s.attempts)).toEqual([1, 1, 1, 1]);
    for (const host of await hosts()) {
      const { DBInstances } = await aws.rds.send(
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: host.instanceIdentifier }),
      );
      expect(DBInstances).toHaveLength(1);
    }
    const events = await ds.getRepository(TenantEventEntity).findBy({ type: 'tenant.redriven' });
    expect(events.map((e) => e.tenantId).sort()).toEqual(tenants.map((t) => t.id).sort());
  });

  it('re-drives the deletion of an empty host whose job was lost while its instance was being deleted', async () => {
    for (const tenant of tenants) await onboarding.requestDeletion(tenant.id, CTX);
    await eventually(async () => expect(await statuses()).toEqual(['DELETED', 'DELETED']), 60_000);

    held.deleting = true;
    const sweep = await new HostSweep(new HostRetirement(ds), { graceMs: 0 }).sweep(log);
    expect(sweep.deleting).toHaveLength(2);
    await eventually(async () => {
      const now = await journal();
      for (const name of ['pool-starter-001', 'schema-pro-001'])
        expect(now.hosts[name]).toEqual(expect.arrayContaining(['delete-instance:waiting']));
    }, 30_000);
    expect(await loseEveryJob()).toBeGreaterThan(0);
    held.deleting = false;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await hosts()).map((h) => h.status)).toEqual(['deleting', 'deleting']);

    expect(await reconciler().pass('test', 'deleting-hosts')).toMatchObject({ redriven: 2 });
    await eventually(
      async () => expect((await hosts()).map((h) => h.status)).toEqual(['deleted', 'deleted']),
      60_000,
    );
    for (const host of await hosts()) {
      await expect(
        aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: host.instanceIdentifier })),
      ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
    }
  });
  it('re-drives the compensation of a host that failed for good, whose job was lost while it waited to delete its instance; its waiting tenant then fails saying why', async () => {
    held.creating = true;
    const { tenant } = await onboarding.createTenant(
      { slug: `rl-doomed-${uniqueToken(2)}`, name: 'doomed', tier: 'starter' },
      CTX,
    );
    const hostSteps = async () => (await journal()).hosts['pool-starter-002'];
    await eventually(
      async () =>
        expect(await hostSteps()).toEqual([
          'prepare-credentials:done',
          'create-instance:done',
          'wait-available:waiting',
        ]),
      30_000,
    );
    // RDS reports the instance in a state it does not leave by itself, then still creating: the
    // host fails, and undoing its instance must wait until RDS can delete it.
    held.script = ['incompatible-parameters', 'creating'];
    await eventually(async () => {
      expect((await hosts()).find((h) => h.name === 'pool-starter-002')?.status).toBe('failed');
      expect(await hostSteps()).toEqual([
        'prepare-credentials:done',
        'create-instance:done',
        'wait-available:compensated',
      ]);
    }, 30_000);
    expect(await loseEveryJob()).toBeGreaterThan(0);
    held.script = null;
    held.creating = false;
    await new Promise((r) => setTimeout(r, 1500));
    expect(await hostSteps()).toEqual([
      'prepare-credentials:done',
      'create-instance:done',
      'wait-available:compensated',
    ]);

    const host = (await hosts()).find((h) => h.name === 'pool-starter-002')!;
    // The host's compensation queued again, and its tenant's job unless the tenant saw the host
    // fail (and failed itself) before the flush.
    const tenantWaits = (await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).status;
    expect(['PROVISIONING', 'FAILED']).toContain(tenantWaits);
    expect(await reconciler().pass('test', 'after-failed-host')).toMatchObject({
      redriven: tenantWaits === 'PROVISIONING' ? 2 : 1,
    });
    await eventually(
      async () =>
        expect(await hostSteps()).toEqual([
          'prepare-credentials:compensated',
          'create-instance:compensated',
          'wait-available:compensated',
        ]),
      60_000,
    );
    await expect(
      aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: host.instanceIdentifier })),
    ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });

    const failed = await eventually(async () => {
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
      expect(row.status).toBe('FAILED');
      return row;
    }, 60_000);
    expect(failed).toMatchObject({
      failureStep: 'wait-host',
      failureCode: 'INSTANCE_TERMINAL_STATE',
      failureMessage: expect.stringContaining('host pool-starter-002 failed'),
      hostId: null,
    });
    // Settled: nothing left for a later pass.
    expect(await reconciler().pass('test', 'settled')).toMatchObject({ redriven: 0 });
  });
});
