import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import IORedis from 'ioredis';
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
import { controlPlaneDataSourceOptions, HostEntity, TenantEntity } from '../../control-plane-db/src';
import { hostName, hostResourceNames } from '../../core/src';
import { PROVISIONING_QUEUE, ProvisioningQueue, startQueueWorker, type QueueWorker } from '../../queue/src';
import {
  CREATE_HOST_JOB,
  createHostJobId,
  DEFAULT_TIER_PROFILES,
  deleteHostJobId,
  HostAllocator,
  HostRetirement,
  placementRequestOf,
  PROVISIONING_JOB_NAMES,
  RECONCILER_FLEET,
  ROTATE_HOST_CREDENTIALS_JOB,
  rotateHostJobId,
  Reconciler,
  TenantOnboarding,
  type SharedTierProfile,
} from '../src';
import { LostHostJobs } from '../src/reconcile/lost-host-jobs';

jest.setTimeout(180_000);

const CTX = { actor: 'ops-test', correlationId: 'host-reconcile-it' };

/** The log lines a pass writes, kept to be looked at. */
function capturingLog() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const push = (fields: object, message: string) =>
    lines.push({ fields: fields as Record<string, unknown>, message });
  return { lines, log: { info: push, warn: push, error: push } };
}

async function deleteKeysUnder(queuePrefix: string): Promise<number> {
  const redis = new IORedis(testServices.redisUrl);
  try {
    const keys = await redis.keys(`${queuePrefix}:*`);
    if (keys.length) await redis.del(...keys);
    return keys.length;
  } finally {
    redis.disconnect();
  }
}

describe('the reconciler re-drives shared hosts whose jobs were lost with Redis', () => {
  const prefix = `hr${uniqueToken(3)}`;
  const queuePrefix = testQueuePrefix();
  let database: { name: string; url: string };
  let worker: INestApplicationContext;
  let ds: DataSource;
  let queue: ProvisioningQueue;

  beforeAll(async () => {
    database = await createOwnDatabase('host_reconcile');
    const config = testConfig({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: queuePrefix,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
      ...fastLocalSagaEnvironment(),
      RECONCILE_INTERVAL_SECONDS: '3600',
    });
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    ds = worker.get(DataSource);
    queue = worker.get(ProvisioningQueue);
  });

  afterAll(async () => {
    await worker?.close();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  const hostStatus = async (id: string) =>
    (await ds.getRepository(HostEntity).findOneByOrFail({ id })).status;
  const tenantStatus = async (id: string) =>
    (await ds.getRepository(TenantEntity).findOneByOrFail({ id })).status;
  const reconciler = (log: ReturnType<typeof capturingLog>['log']) =>
    new Reconciler(ds, queue, { stuckGraceMs: 1000 }, worker.get(RECONCILER_FLEET), log);
  const allRelayed = () =>
    eventually(async () => {
      const [{ n }] = await ds.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM outbox WHERE dispatched_at IS NULL`,
      );
      expect(n).toBe(0);
    });

  it('brings a host being created, and the pooled tenant waiting for it, to available and ACTIVE after every BullMQ key is deleted', async () => {
    // The queue is paused, so the jobs are in Redis but not run when Redis loses them.
    await queue.queue.pause();
    const { tenant } = await worker
      .get(TenantOnboarding)
      .createTenant({ slug: `pooled-${uniqueToken(2)}`, name: 'Pooled', tier: 'starter' }, CTX);
    // What the tenant's place step does: a place on a new host, whose create job is in the outbox.
    const { host, hostCreated } = await worker
      .get(HostAllocator)
      .placeTenant(tenant.id, placementRequestOf(DEFAULT_TIER_PROFILES.starter as SharedTierProfile));
    expect({ hostCreated, status: host.status, name: host.name }).toEqual({
      hostCreated: true,
      status: 'creating',
      name: hostName('pool', 'starter', 1),
    });
    await allRelayed();
    expect(await queue.jobFate(createHostJobId(host.id))).toBe('live');
    expect(await deleteKeysUnder(queuePrefix)).toBeGreaterThan(0);
    expect(await queue.jobFate(createHostJobId(host.id))).toBe('missing');

    // Within the grace period the host is left alone.
    const early = await new Reconciler(
      ds,
      queue,
      { stuckGraceMs: 3_600_000 },
      worker.get(RECONCILER_FLEET),
      capturingLog().log,
    ).pass('test', 'early');
    expect(early).toMatchObject({ redriven: 0 });
    await new Promise((r) => setTimeout(r, 1100));
    const { lines, log } = capturingLog();
    const result = await reconciler(log).pass('test', 'after-flush');
    // The host and the tenant waiting for it.
    expect(result).toMatchObject({ redriven: 2 });
    expect(lines.filter((l) => l.message === 'host had no live job; re-driven')).toEqual([
      {
        message: 'host had no live job; re-driven',
        fields: {
          hostId: host.id,
          host: host.name,
          jobId: createHostJobId(host.id),
          status: 'creating',
          found: 'missing',
        },
      },
    ]);
    await eventually(async () => {
      expect([await hostStatus(host.id), await tenantStatus(tenant.id)]).toEqual(['available', 'ACTIVE']);
    }, 90_000);
    // Settled: the next pass has nothing to re-drive.
    await new Promise((r) => setTimeout(r, 1100));
    expect(await reconciler(capturingLog().log).pass('test', 'settled')).toMatchObject({ redriven: 0 });
  });

  it('finishes deleting an empty host whose delete job was lost', async () => {
    const [placed] = await ds.query<{ id: string; host_id: string }[]>(
      `SELECT id, host_id FROM tenants WHERE placement = 'pool' AND status = 'ACTIVE'`,
    );
    await worker.get(TenantOnboarding).requestDeletion(placed.id, CTX);
    await eventually(async () => expect(await tenantStatus(placed.id)).toBe('DELETED'), 60_000);

    await queue.queue.pause();
    await worker.get(HostRetirement).beginDeletion(placed.host_id);
    await allRelayed();
    expect(await deleteKeysUnder(queuePrefix)).toBeGreaterThan(0);
    expect(await hostStatus(placed.host_id)).toBe('deleting');

    await new Promise((r) => setTimeout(r, 1100));
    const { lines, log } = capturingLog();
    expect(await reconciler(log).pass('test', 'delete-lost')).toMatchObject({ redriven: 1 });
    expect(lines.find((l) => l.message === 'host had no live job; re-driven')?.fields).toMatchObject({
      hostId: placed.host_id,
      jobId: deleteHostJobId(placed.host_id),
      status: 'deleting',
    });
    await eventually(async () => expect(await hostStatus(placed.host_id)).toBe('deleted'), 60_000);
  });
});

describe('LostHostJobs: a shared host whose job failed in the queue', () => {
  const queuePrefix = testQueuePrefix();
  let database: { name: string; url: string };
  let ds: DataSource;
  let queue: ProvisioningQueue;
  let failing: QueueWorker;
  let hostId: string;

  beforeAll(async () => {
    database = await createOwnDatabase('host_redrive_failed');
    const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: queuePrefix });
    ds = await new DataSource(
      controlPlaneDataSourceOptions({
        url: database.url,
        poolMax: 4,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    ).initialize();
    queue = new ProvisioningQueue(config);
    // A worker whose every pass throws something unclassified, as a bug or a dead database would.
    failing = startQueueWorker({
      queue: PROVISIONING_QUEUE,
      prefix: queuePrefix,
      redisUrl: testServices.redisUrl,
      concurrency: 1,
      lockDurationMs: 5000,
      jobNames: PROVISIONING_JOB_NAMES,
      handlers: Object.fromEntries(
        PROVISIONING_JOB_NAMES.map((name) => [name, () => Promise.reject(new Error('boom'))]),
      ),
      backoff: () => 10,
    });
    const name = hostName('schema', 'pro', 1);
    // Unchanged for an hour: past the grace period.
    const [row] = await ds.query<{ id: string }[]>(
      `INSERT INTO hosts (name, placement, tier, ordinal, status, instance_identifier, database_name,
                          capacity_tenants, connection_budget, created_at, updated_at)
       VALUES ($1, 'schema', 'pro', 1, 'creating', $2, 'app', 50, 400,
               now() - interval '1 hour', now() - interval '1 hour')
       RETURNING id`,
      [name, hostResourceNames('silo', name).instanceIdentifier],
    );
    hostId = row.id;
  });

  afterAll(async () => {
    await failing?.close();
    await queue?.onApplicationShutdown();
    await ds?.destroy();
    await deleteKeysUnder(queuePrefix);
    if (database) await dropDatabase(database.name);
  });

  it('removes the failed job and queues the host’s job again, once', async () => {
    const jobId = createHostJobId(hostId);
    // One attempt, so that the unclassified failure is final at once.
    await queue.queue.add(CREATE_HOST_JOB, { hostId }, { jobId, attempts: 1 });
    await eventually(async () => expect(await queue.jobFate(jobId)).toBe('failed'), 20_000);
    await failing.close();

    const { lines, log } = capturingLog();
    const problems: string[] = [];
    expect(await new LostHostJobs(ds, queue, 60_000, log).run(problems)).toBe(1);
    expect(problems).toEqual([]);
    expect(lines.find((l) => l.message === 'host had no live job; re-driven')?.fields).toEqual({
      hostId,
      host: 'schema-pro-001',
      jobId,
      status: 'creating',
      found: 'failed',
    });
    expect(await queue.jobFate(jobId)).toBe('missing');
    const outbox = await ds.query<{ job_name: string; payload: unknown }[]>(
      `SELECT job_name, payload FROM outbox WHERE job_id = $1 AND dispatched_at IS NULL`,
      [jobId],
    );
    expect(outbox).toEqual([{ job_name: CREATE_HOST_JOB, payload: { hostId } }]);

    // Queued in the outbox now: the next pass leaves it to the relay.
    expect(await new LostHostJobs(ds, queue, 60_000, log).run(problems)).toBe(0);
  });

  it('logs, and leaves alone, a failed host job when the queue cannot remove failed jobs', async () => {
    const jobId = createHostJobId(hostId);
    await ds.query(`DELETE FROM outbox WHERE job_id = $1`, [jobId]);
    const { lines, log } = capturingLog();
    const withoutDiscard = {
      jobFate: () => Promise.resolve('failed' as const),
      discardCompleted: () => Promise.resolve(),
    };
    expect(await new LostHostJobs(ds, withoutDiscard, 60_000, log).run([])).toBe(0);
    expect(lines.map((l) => l.message)).toEqual([
      'host job failed in the queue; not revived, see the worker logs',
    ]);
    expect(await ds.query(`SELECT 1 FROM outbox WHERE job_id = $1`, [jobId])).toEqual([]);
  });

  it('leaves a host whose saga moved within the grace period, and one settled', async () => {
    const jobId = createHostJobId(hostId);
    const missing = {
      jobFate: () => Promise.resolve('missing' as const),
      discardCompleted: () => Promise.resolve(),
    };
    await ds.query(`UPDATE hosts SET updated_at = now() WHERE id = $1`, [hostId]);
    expect(await new LostHostJobs(ds, missing, 60_000, capturingLog().log).run([])).toBe(0);
    await ds.query(
      `UPDATE hosts SET status = 'failed', error = '{"code":"X","message":"x"}', updated_at = now() - interval '1 hour'
        WHERE id = $1`,
      [hostId],
    );
    // Failed with nothing of its run left to undo: settled.
    expect(await new LostHostJobs(ds, missing, 60_000, capturingLog().log).run([])).toBe(0);
    // Failed with a step still to undo: its create job compensates, and is queued again.
    await ds.query(
      `INSERT INTO host_steps (host_id, saga, step, position, status, attempts, updated_at)
       VALUES ($1, 'create', 'prepare-credentials', 0, 'done', 1, now() - interval '1 hour')`,
      [hostId],
    );
    expect(await new LostHostJobs(ds, missing, 60_000, capturingLog().log).run([])).toBe(1);
    expect(await ds.query(`SELECT job_id FROM outbox WHERE job_id = $1`, [jobId])).toEqual([
      { job_id: jobId },
    ]);
  });

  it('queues again the job of a pool-login rotation left RUNNING without one, once, and leaves a rotation that moved', async () => {
    const name = hostName('pool', 'starter', 1);
    const [{ id: poolHost }] = await ds.query<{ id: string }[]>(
      `INSERT INTO hosts (name, placement, tier, ordinal, status, instance_identifier, database_name,
                          endpoint_host, endpoint_port, capacity_tenants, connection_budget, created_at, updated_at)
       VALUES ($1, 'pool', 'starter', 1, 'available', $2, 'app', 'h.internal', 5432, 1000, 200,
               now() - interval '1 day', now() - interval '1 day')
       RETURNING id`,
      [name, hostResourceNames('silo', name).instanceIdentifier],
    );
    await ds.query(
      `INSERT INTO host_rotations (host_id, run, status, requested_by, correlation_id, created_at, updated_at)
       VALUES ($1, 1, 'SUCCEEDED', 'ops', 'c-1', now() - interval '1 day', now() - interval '1 day'),
              ($1, 2, 'RUNNING', 'ops', 'c-2', now() - interval '1 hour', now() - interval '1 hour')`,
      [poolHost],
    );
    // Its last step moved within the grace period: the rotation is alive, nothing to do.
    await ds.query(
      `INSERT INTO host_steps (host_id, saga, step, position, status, attempts, updated_at)
       VALUES ($1, 'rotate', 'app:create-pending', 0, 'done', 1, now())`,
      [poolHost],
    );
    const missing = {
      jobFate: () => Promise.resolve('missing' as const),
      discardCompleted: () => Promise.resolve(),
    };
    const quiet = capturingLog();
    // (The schema host above still has its create job in the outbox: it is left to the relay.)
    expect(await new LostHostJobs(ds, missing, 60_000, quiet.log).run([])).toBe(0);

    await ds.query(`UPDATE host_steps SET updated_at = now() - interval '1 hour' WHERE host_id = $1`, [
      poolHost,
    ]);
    const { lines, log } = capturingLog();
    expect(await new LostHostJobs(ds, missing, 60_000, log).run([])).toBe(1);
    const jobId = rotateHostJobId(poolHost, 2);
    expect(
      lines.find((l) => l.message === 'host pool-login rotation had no live job; re-driven')?.fields,
    ).toEqual({
      hostId: poolHost,
      host: 'pool-starter-001',
      run: 2,
      jobId,
      found: 'missing',
    });
    expect(
      await ds.query(`SELECT job_name, job_id, payload FROM outbox WHERE job_name = $1`, [
        ROTATE_HOST_CREDENTIALS_JOB,
      ]),
    ).toEqual([{ job_name: ROTATE_HOST_CREDENTIALS_JOB, job_id: jobId, payload: { hostId: poolHost } }]);
    // Queued in the outbox now: the next pass leaves it to the relay.
    expect(await new LostHostJobs(ds, missing, 60_000, log).run([])).toBe(0);
  });
});
