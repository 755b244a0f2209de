import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import IORedis from 'ioredis';
import pino from 'pino';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstance } from '../../../test/support/local-tenant-instance';
import {
  fastLocalSagaEnvironment,
  testConfig,
  testQueuePrefix,
  uniqueToken,
} from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { testServices } from '../../../test/support/test-services';
import { AwsClients } from '../../aws/src';
import { TenantEntity, TenantEventEntity } from '../../control-plane-db/src';
import { ProvisioningQueue } from '../../queue/src';
import { RECONCILER_FLEET, Reconciler, TenantOnboarding } from '../src';

jest.setTimeout(180_000);

const prefix = `rz${uniqueToken(3)}`;
const queuePrefix = testQueuePrefix();
const CTX = { actor: 'ops-test', correlationId: 'reconcile-it' };
const log = pino({ level: 'silent' });

describe('the reconciler re-drives tenants whose jobs were lost', () => {
  let database: { name: string; url: string };
  let worker: INestApplicationContext;
  let ds: DataSource;
  let aws: AwsClients;
  const tenants: TenantEntity[] = [];

  beforeAll(async () => {
    database = await createOwnDatabase('reconcile');
    const config = testConfig({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: queuePrefix,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      // One job at a time, so that most tenants are still queued when Redis forgets everything.
      WORKER_CONCURRENCY: '1',
      RECONCILE_INTERVAL_SECONDS: '3600',
      RECONCILE_STUCK_GRACE_SECONDS: '1',
    });
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    ds = worker.get(DataSource);
    aws = new AwsClients(config);
  });

  afterAll(async () => {
    await worker?.close();
    aws?.onApplicationShutdown();
    for (const t of tenants) await removeTenantInstance(prefix, t.slug);
    if (database) await dropDatabase(database.name);
  });

  const statusOf = async (id: string) =>
    (await ds.getRepository(TenantEntity).findOneByOrFail({ id })).status;
  const reconciler = () =>
    new Reconciler(
      ds,
      worker.get(ProvisioningQueue),
      { stuckGraceMs: 1000 },
      worker.get(RECONCILER_FLEET),
      log,
    );

  /** Waits until `settled`, or until no tenant record has moved for 3 s (stuck again: the next pass's turn). */
  async function untilSettledOrQuiet(settled: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 60_000;
    let last = '';
    let lastChange = Date.now();
    while (Date.now() < deadline && !(await settled())) {
      const [{ mark }] = await ds.query<{ mark: string }[]>(
        `SELECT concat(max(t.updated_at), '/', (SELECT max(updated_at) FROM provisioning_steps)) AS mark FROM tenants t`,
      );
      if (mark !== last) [last, lastChange] = [mark, Date.now()];
      else if (Date.now() - lastChange > 3000) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

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

  it('brings 10 tenants mid-provisioning to ACTIVE and 2 mid-deprovisioning to DELETED after every BullMQ key is deleted', async () => {
    const onboarding = worker.get(TenantOnboarding);
    const create = async (i: number) =>
      (
        await onboarding.createTenant(
          { slug: `rz-${i}-${uniqueToken(2)}`, name: `Reconcile ${i}`, tier: 'starter' },
          CTX,
        )
      ).tenant;
    const leaving = [await create(100), await create(101)];
    tenants.push(...leaving);
    await eventually(
      async () => expect(await Promise.all(leaving.map((t) => statusOf(t.id)))).toEqual(['ACTIVE', 'ACTIVE']),
      60_000,
    );

    for (const t of leaving) await onboarding.requestDeletion(t.id, CTX);
    const provisioning = await Promise.all(Array.from({ length: 10 }, (_, i) => create(i)));
    tenants.push(...provisioning);
    // Every job handed to Redis, then Redis loses them all.
    await eventually(async () => {
      const [{ n }] = await ds.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM outbox WHERE dispatched_at IS NULL`,
      );
      expect(n).toBe(0);
    });
    expect(await flushQueue()).toBeGreaterThan(0);
    const stuck = (await Promise.all(tenants.map((t) => statusOf(t.id)))).filter(
      (s) => s !== 'ACTIVE' && s !== 'DELETED',
    );
    expect(stuck.length).toBeGreaterThan(0);

    // Passes until everything settles; the issue asks for two at most.
    let passes = 0;
    const settled = async () =>
      (await Promise.all(tenants.map((t) => statusOf(t.id)))).every(
        (s, i) => s === (i < 2 ? 'DELETED' : 'ACTIVE'),
      );
    while (!(await settled()) && passes < 2) {
      await new Promise((r) => setTimeout(r, 1100)); // past the grace period
      const result = await reconciler().pass('test', `pass-${passes}`);
      expect(result).not.toBe('busy');
      passes++;
      await untilSettledOrQuiet(settled);
    }
    expect(await Promise.all(tenants.map((t) => statusOf(t.id)))).toEqual([
      'DELETED',
      'DELETED',
      ...provisioning.map(() => 'ACTIVE'),
    ]);
    expect(passes).toBeLessThanOrEqual(2);

    for (const [i, t] of tenants.entries()) {
      const { DBInstances } = await aws.rds
        .send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: `${prefix}-${t.slug}` }))
        .catch(() => ({ DBInstances: [] }));
      expect([t.slug, DBInstances?.length]).toEqual([t.slug, i < 2 ? 0 : 1]);
    }
    const redriven = await ds.getRepository(TenantEventEntity).findBy({ type: 'tenant.redriven' });
    expect(redriven.length).toBeGreaterThan(0);
    expect(redriven.every((e) => e.actor === 'system:reconciler')).toBe(true);
  });

  it('runs one pass at a time: a pass that finds another holding the lock does nothing', async () => {
    const holder = ds.createQueryRunner();
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtext('silo:reconciler'))`);
      const before = await ds.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM reconcile_passes`);
      expect(await reconciler().pass('replica-2', 'busy-test')).toBe('busy');
      expect(await ds.query(`SELECT count(*)::int AS n FROM reconcile_passes`)).toEqual(before);
    } finally {
      await holder.query(`SELECT pg_advisory_unlock(hashtext('silo:reconciler'))`);
      await holder.release();
    }
    // Once the lock is free, a pass runs and is recorded.
    const done = await reconciler().pass('replica-1', 'free');
    expect(done).toMatchObject({ passId: expect.any(String) });
  });
});
