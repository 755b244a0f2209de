import { DataSource } from 'typeorm';
import { eventually } from '../../../test/support/eventually';
import { testConfig, testQueuePrefix, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { testServices } from '../../../test/support/test-services';
import { controlPlaneDataSourceOptions, OutboxMessageEntity } from '../../control-plane-db/src';
import { DEFAULT_TIER_PROFILES, TenantOnboarding, tierPriority } from '../../fleet/src';
import { OutboxRelay, ProvisioningQueue, startQueueWorker, type JobHandler, type QueueWorker } from '../src';

jest.setTimeout(60_000);

describe('the provisioning queue on real Redis', () => {
  let queue: ProvisioningQueue;
  let worker: QueueWorker | undefined;
  const config = testConfig();

  beforeEach(() => {
    queue = new ProvisioningQueue(testConfig({ QUEUE_PREFIX: config.queue.prefix }));
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    await queue.queue.obliterate({ force: true });
    await queue.onApplicationShutdown();
  });

  function work(handlers: Record<string, JobHandler>, concurrency = 1): QueueWorker {
    return startQueueWorker({
      queue: queue.queue.name,
      prefix: config.queue.prefix,
      redisUrl: testServices.redisUrl,
      concurrency,
      lockDurationMs: 5000,
      jobNames: Object.keys(handlers),
      handlers,
      backoff: () => 10,
    });
  }

  it('makes one job of two enqueues with the same id', async () => {
    await queue.add('provision-tenant', { tenantId: 't1' }, { jobId: 'provision-t1-1', priority: 1 });
    await queue.add('provision-tenant', { tenantId: 't1' }, { jobId: 'provision-t1-1', priority: 1 });
    const counts = await queue.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('runs enterprise jobs before pro and starter ones queued earlier', async () => {
    for (const tier of ['starter', 'pro', 'enterprise'] as const) {
      await queue.add(
        'provision-tenant',
        { tenantId: tier },
        { jobId: `job-${tier}`, priority: tierPriority(tier) },
      );
    }
    const order: string[] = [];
    await new Promise<void>((resolve) => {
      worker = work({
        'provision-tenant': (job) => {
          order.push(String(job.data.tenantId));
          if (order.length === 3) resolve();
          return Promise.resolve({ kind: 'finished' });
        },
      });
    });
    expect(order).toEqual(['enterprise', 'pro', 'starter']);
  });

  it('parks a job that must wait in the delayed set and frees the slot for other jobs', async () => {
    const seen: string[] = [];
    await queue.add('provision-tenant', { tenantId: 'slow' }, { jobId: 'job-slow', priority: 1 });
    await queue.add('provision-tenant', { tenantId: 'fast' }, { jobId: 'job-fast', priority: 2 });
    await new Promise<void>((resolve) => {
      worker = work({
        'provision-tenant': (job) => {
          const id = String(job.data.tenantId);
          seen.push(id);
          if (seen.filter((s) => s === 'slow').length === 2) resolve();
          // The first pass of 'slow' waits 300 ms; with one slot, 'fast' runs meanwhile.
          return Promise.resolve(
            id === 'slow' && seen.filter((s) => s === 'slow').length === 1
              ? { kind: 'delay', delayMs: 300 }
              : { kind: 'finished' },
          );
        },
      });
    });
    expect(seen).toEqual(['slow', 'fast', 'slow']);
    // The handler's second pass has started; its completion lands in Redis a moment later, in
    // one script that sets finishedOn and counts the attempt.
    const slow = await eventually(
      async () => {
        const job = await queue.queue.getJob('job-slow');
        expect(job?.finishedOn).toBeDefined();
        return job;
      },
      5_000,
      20,
    );
    expect(await slow?.getState()).toBe('completed');
    // Two passes, but only the one that finished counts as an attempt (BullMQ counts an attempt
    // when a job finishes or fails); the parked pass did not use one up.
    expect(slow?.attemptsStarted).toBe(2);
    expect(slow?.attemptsMade).toBe(1);
  });
});

describe('the outbox relay', () => {
  // A database of its own: the relays of other files' workers poll the run's database and would
  // take this file's rows (locked by one of them, a row is skipped here; relayed, it goes to their queue).
  let database: { name: string; url: string };
  let ds: DataSource;
  beforeAll(async () => {
    database = await createOwnDatabase('relay');
    ds = new DataSource(
      controlPlaneDataSourceOptions({
        url: database.url,
        poolMax: 4,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    );
    await ds.initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    if (database) await dropDatabase(database.name);
  });

  it('hands a new tenant’s job to Redis, and retries later when Redis is unreachable', async () => {
    const prefix = testQueuePrefix();
    const { tenant } = await new TenantOnboarding(ds, { tiers: DEFAULT_TIER_PROFILES }).createTenant(
      { slug: `relay-${uniqueToken(2)}`, name: 'Relay', tier: 'enterprise' },
      { actor: 'ops-test', correlationId: 'relay' },
    );

    // Redis "down": a port nothing listens on.
    const deadConfig = testConfig({ QUEUE_PREFIX: prefix, REDIS_URL: 'redis://127.0.0.1:1' });
    const deadQueue = new ProvisioningQueue(deadConfig);
    try {
      expect(await new OutboxRelay(ds, deadQueue, deadConfig).relayOnce()).toBe(0);
    } finally {
      await deadQueue.onApplicationShutdown();
    }
    const row = await ds
      .getRepository(OutboxMessageEntity)
      .findOneByOrFail({ jobId: `provision-${tenant.id}-1` });
    expect(row).toMatchObject({ dispatchedAt: null, attempts: 1, lastError: expect.any(String) });

    // Redis back: the row becomes due after its backoff and is relayed once.
    await ds.query(`UPDATE outbox SET available_at = now() WHERE id = $1`, [row.id]);
    const config = testConfig({ QUEUE_PREFIX: prefix });
    const queue = new ProvisioningQueue(config);
    try {
      const relay = new OutboxRelay(ds, queue, config);
      expect(await relay.relayOnce()).toBe(1);
      const job = await queue.queue.getJob(`provision-${tenant.id}-1`);
      expect(job?.data).toEqual({ tenantId: tenant.id });
      expect(job?.opts.priority).toBe(1);
      expect(await ds.getRepository(OutboxMessageEntity).findOneByOrFail({ id: row.id })).toMatchObject({
        dispatchedAt: expect.any(Date),
      });
    } finally {
      await queue.queue.obliterate({ force: true });
      await queue.onApplicationShutdown();
    }
  });
});
