import { DataSource } from 'typeorm';
import type { SiloConfig } from '@silo/config';
import { type TenantStatus, type TierName } from '@silo/core';
import { TenantOnboarding, TypeormProvisioningStore } from '@silo/fleet';
import { PROVISIONING_QUEUE, ProvisioningQueue, QUEUE_JOB_STATES, startQueueWorker } from '@silo/queue';
import request from 'supertest';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { eventually } from '../../../test/support/eventually';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { testServices } from '../../../test/support/test-services';
import { startApi, type ApiHarness } from './api-harness';
import { family, parseExposition } from './exposition';
import { target, through } from './proxied-url';

jest.setTimeout(60_000);

const BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];
const QUEUE_STATES: readonly string[] = QUEUE_JOB_STATES;
const COLLECTORS = [
  'queue_jobs',
  'job_outcomes',
  'step_durations',
  'tenants',
  'schema_versions',
  'rollout_tenants',
  'reconcile',
  'hosts',
];
const ctx = { actor: 'metrics-test', correlationId: 'metrics' };

describe('GET /metrics', () => {
  // A database of its own: the tenant and step counts are exact whatever other test files write.
  let database: string;
  let url: string;
  let redis: TcpProxy;
  let config: SiloConfig;
  let api: ApiHarness;

  beforeAll(async () => {
    ({ name: database, url } = await createOwnDatabase('metrics'));
    // Redis sits behind a proxy the test can cut, never the machine's own server.
    redis = await TcpProxy.start(target(testServices.redisUrl, 6379));
    config = testConfig({ DATABASE_URL: url, REDIS_URL: through(testServices.redisUrl, redis) });
    api = await startApi(config);
  });

  afterAll(async () => {
    await api?.close();
    await redis?.close();
    await dropDatabase(database);
  });

  const scrape = async () => {
    const res = await request(api.app.getHttpServer())
      .get('/metrics')
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    // Express re-serializes the registry's media type; parameter order does not matter to Prometheus.
    expect(res.headers['content-type']).toMatch(/^text\/plain; /);
    expect(res.headers['content-type']).toContain('version=0.0.4');
    return parseExposition(res.text);
  };

  it('reports queue depth, job outcomes, step durations and tenants to an sre', async () => {
    const store = api.app.get(TypeormProvisioningStore);
    const active = await newTenant('enterprise', ['PROVISIONING', 'ACTIVE']);
    const pendingA = await newTenant('pro', []);
    const pendingB = await newTenant('pro', []);
    const failed = await newTenant('starter', ['PROVISIONING', 'FAILED']);
    const deleted = await newTenant('starter', ['PROVISIONING', 'ACTIVE', 'DEPROVISIONING', 'DELETED']);
    const step = (
      tenantId: string,
      saga: 'provision' | 'deprovision',
      name: string,
      seconds: number | null,
      status: 'done' | 'waiting' | 'compensated' = 'done',
    ) => {
      const startedAt = new Date('2030-01-01T00:00:00Z');
      const finishedAt = seconds === null ? null : new Date(startedAt.getTime() + seconds * 1000);
      return store.updateStep(
        tenantId,
        saga,
        { name, position: 1 },
        { status, attempts: 1, startedAt, finishedAt },
        null,
        ctx,
      );
    };
    await step(active, 'provision', 'create-instance', 0.5);
    await step(active, 'provision', 'wait-available', 400);
    await step(pendingA, 'provision', 'create-instance', 10);
    await step(pendingA, 'provision', 'wait-available', null, 'waiting');
    await step(pendingB, 'provision', 'create-instance', 30);
    await step(failed, 'provision', 'wait-available', 5000);
    await step(failed, 'provision', 'create-instance', 20, 'compensated');
    await step(deleted, 'deprovision', 'delete-instance', 2);

    // Four passes through a real worker: two complete, one waits, one throws (retried in an hour).
    const queue = api.app.get(ProvisioningQueue);
    await queue.add('provision-tenant', { tenantId: 'a' }, { jobId: 'job-a' });
    await queue.add('provision-tenant', { tenantId: 'b' }, { jobId: 'job-b' });
    await queue.add('deprovision-tenant', { tenantId: 'wait' }, { jobId: 'job-wait' });
    await queue.add('deprovision-tenant', { tenantId: 'boom' }, { jobId: 'job-boom' });
    let passes = 0;
    let allPassed!: () => void;
    const done = new Promise<void>((resolve) => (allPassed = resolve));
    const pass = () => {
      if (++passes === 4) allPassed();
    };
    const worker = startQueueWorker({
      queue: PROVISIONING_QUEUE,
      prefix: config.queue.prefix,
      redisUrl: testServices.redisUrl,
      concurrency: 1,
      lockDurationMs: 5000,
      jobNames: ['provision-tenant', 'deprovision-tenant'],
      handlers: {
        'provision-tenant': () => {
          pass();
          return Promise.resolve({ kind: 'finished' });
        },
        'deprovision-tenant': (job) => {
          pass();
          return job.data.tenantId === 'wait'
            ? Promise.resolve({ kind: 'delay', delayMs: 3_600_000 })
            : Promise.reject(new Error('boom'));
        },
      },
      backoff: () => 3_600_000,
    });
    try {
      await done;
    } finally {
      await worker.close();
    }
    await queue.add('provision-tenant', { tenantId: 'c' }, { jobId: 'job-c', priority: 1 });
    await queue.add('provision-tenant', { tenantId: 'd' }, { jobId: 'job-d' });

    // The counts are written without waiting for Redis; the last may land a moment later.
    const metrics = await eventually(async () => {
      const m = await scrape();
      expect(m.samples['silo_jobs_total{job="deprovision-tenant",outcome="failed"}']).toBe(1);
      return m;
    });

    expect(family(metrics, 'silo_queue_jobs')).toEqual(
      Object.fromEntries(
        QUEUE_STATES.map((state) => [
          `silo_queue_jobs{queue="provisioning",state="${state}"}`,
          { waiting: 1, prioritized: 1, delayed: 2, completed: 2 }[state] ?? 0,
        ]),
      ),
    );
    expect(family(metrics, 'silo_jobs_total')).toEqual({
      'silo_jobs_total{job="provision-tenant",outcome="completed"}': 2,
      'silo_jobs_total{job="provision-tenant",outcome="delayed"}': 0,
      'silo_jobs_total{job="provision-tenant",outcome="failed"}': 0,
      'silo_jobs_total{job="deprovision-tenant",outcome="completed"}': 0,
      'silo_jobs_total{job="deprovision-tenant",outcome="delayed"}': 1,
      'silo_jobs_total{job="deprovision-tenant",outcome="failed"}': 1,
      'silo_jobs_total{job="delete-orphans",outcome="completed"}': 0,
      'silo_jobs_total{job="delete-orphans",outcome="delayed"}': 0,
      'silo_jobs_total{job="delete-orphans",outcome="failed"}': 0,
      'silo_jobs_total{job="migrate-tenant",outcome="completed"}': 0,
      'silo_jobs_total{job="migrate-tenant",outcome="delayed"}': 0,
      'silo_jobs_total{job="migrate-tenant",outcome="failed"}': 0,
      'silo_jobs_total{job="migrate-pool",outcome="completed"}': 0,
      'silo_jobs_total{job="migrate-pool",outcome="delayed"}': 0,
      'silo_jobs_total{job="migrate-pool",outcome="failed"}': 0,
      'silo_jobs_total{job="modify-tenant",outcome="completed"}': 0,
      'silo_jobs_total{job="modify-tenant",outcome="delayed"}': 0,
      'silo_jobs_total{job="modify-tenant",outcome="failed"}': 0,
      'silo_jobs_total{job="move-tenant",outcome="completed"}': 0,
      'silo_jobs_total{job="move-tenant",outcome="delayed"}': 0,
      'silo_jobs_total{job="move-tenant",outcome="failed"}': 0,
      'silo_jobs_total{job="remove-moved-source",outcome="completed"}': 0,
      'silo_jobs_total{job="remove-moved-source",outcome="delayed"}': 0,
      'silo_jobs_total{job="remove-moved-source",outcome="failed"}': 0,
      'silo_jobs_total{job="restore-tenant",outcome="completed"}': 0,
      'silo_jobs_total{job="restore-tenant",outcome="delayed"}': 0,
      'silo_jobs_total{job="restore-tenant",outcome="failed"}': 0,
      'silo_jobs_total{job="remove-restore-copy",outcome="completed"}': 0,
      'silo_jobs_total{job="remove-restore-copy",outcome="delayed"}': 0,
      'silo_jobs_total{job="remove-restore-copy",outcome="failed"}': 0,
      'silo_jobs_total{job="undelete-tenant",outcome="completed"}': 0,
      'silo_jobs_total{job="undelete-tenant",outcome="delayed"}': 0,
      'silo_jobs_total{job="undelete-tenant",outcome="failed"}': 0,
      'silo_jobs_total{job="snapshot-tenant",outcome="completed"}': 0,
      'silo_jobs_total{job="snapshot-tenant",outcome="delayed"}': 0,
      'silo_jobs_total{job="snapshot-tenant",outcome="failed"}': 0,
      'silo_jobs_total{job="rotate-credentials",outcome="completed"}': 0,
      'silo_jobs_total{job="rotate-credentials",outcome="delayed"}': 0,
      'silo_jobs_total{job="rotate-credentials",outcome="failed"}': 0,
      'silo_jobs_total{job="reconcile",outcome="completed"}': 0,
      'silo_jobs_total{job="reconcile",outcome="delayed"}': 0,
      'silo_jobs_total{job="reconcile",outcome="failed"}': 0,
      'silo_jobs_total{job="create-host",outcome="completed"}': 0,
      'silo_jobs_total{job="create-host",outcome="delayed"}': 0,
      'silo_jobs_total{job="create-host",outcome="failed"}': 0,
      'silo_jobs_total{job="delete-host",outcome="completed"}': 0,
      'silo_jobs_total{job="delete-host",outcome="delayed"}': 0,
      'silo_jobs_total{job="delete-host",outcome="failed"}': 0,
      'silo_jobs_total{job="sweep-hosts",outcome="completed"}': 0,
      'silo_jobs_total{job="sweep-hosts",outcome="delayed"}': 0,
      'silo_jobs_total{job="sweep-hosts",outcome="failed"}': 0,
      'silo_jobs_total{job="rotate-host-credentials",outcome="completed"}': 0,
      'silo_jobs_total{job="rotate-host-credentials",outcome="delayed"}': 0,
      'silo_jobs_total{job="rotate-host-credentials",outcome="failed"}': 0,
    });
    expect(family(metrics, 'silo_provisioning_step_duration_seconds')).toEqual({
      ...histogram('deprovision', 'delete-instance', [2]),
      ...histogram('provision', 'create-instance', [0.5, 10, 30]),
      ...histogram('provision', 'wait-available', [400, 5000]),
    });
    // Bucket bounds are inclusive: 30 s counts in le="30".
    const createInstance = 'saga="provision",step="create-instance"';
    expect(metrics.samples[`silo_provisioning_step_duration_seconds_bucket{le="15",${createInstance}}`]).toBe(
      2,
    );
    expect(metrics.samples[`silo_provisioning_step_duration_seconds_bucket{le="30",${createInstance}}`]).toBe(
      3,
    );
    expect(metrics.samples[`silo_provisioning_step_duration_seconds_sum{${createInstance}}`]).toBe(40.5);

    const tenants = family(metrics, 'silo_tenants');
    expect(Object.keys(tenants)).toHaveLength(7 * 3);
    expect(Object.fromEntries(Object.entries(tenants).filter(([, n]) => n !== 0))).toEqual({
      'silo_tenants{status="ACTIVE",tier="enterprise"}': 1,
      'silo_tenants{status="PENDING",tier="pro"}': 2,
      'silo_tenants{status="FAILED",tier="starter"}': 1,
      'silo_tenants{status="DELETED",tier="starter"}': 1,
    });
    expect(family(metrics, 'silo_metrics_collector_up')).toEqual(collectorsUp({}));
    expect(metrics.types).toMatchObject({
      silo_queue_jobs: 'gauge',
      silo_jobs_total: 'counter',
      silo_provisioning_step_duration_seconds: 'histogram',
      silo_tenants: 'gauge',
      silo_metrics_collector_up: 'gauge',
      process_cpu_user_seconds_total: 'counter',
    });
  });

  it('reports shared hosts by placement and status, and each live host’s tenants against its capacity', async () => {
    const ds = api.app.get(DataSource);
    const [host] = await ds.query<{ id: string }[]>(
      `INSERT INTO hosts (name, placement, tier, ordinal, status, instance_identifier, endpoint_host, endpoint_port,
                          database_name, capacity_tenants, connection_budget)
       VALUES ('pool-starter-001', 'pool', 'starter', 1, 'available', 'silo-host-pool-starter-001', '127.0.0.1', 5432,
               'silo', 3, 20) RETURNING id`,
    );
    await ds.query(
      `INSERT INTO hosts (name, placement, tier, ordinal, status, instance_identifier, database_name, capacity_tenants,
                          connection_budget, deleted_at)
       VALUES ('schema-pro-001', 'schema', 'pro', 1, 'deleted', 'silo-host-schema-pro-001', 'silo', 5, 20, now())`,
    );
    for (const [slug, status] of [
      ['pooled-a', 'ACTIVE'],
      ['pooled-b', 'SUSPENDED'],
      ['pooled-gone', 'DELETED'],
    ]) {
      await ds.query(
        `INSERT INTO tenants (slug, name, tier, status, placement, host_id) VALUES ($1, $1, 'starter', $2, 'pool', $3)`,
        [slug, status, host.id],
      );
    }
    const metrics = await eventually(async () => {
      const m = await scrape();
      expect(m.samples['silo_host_tenants{host="pool-starter-001",placement="pool",tier="starter"}']).toBe(2);
      return m;
    });
    expect(
      Object.fromEntries(Object.entries(family(metrics, 'silo_hosts')).filter(([, n]) => n !== 0)),
    ).toEqual({
      'silo_hosts{placement="pool",status="available"}': 1,
      'silo_hosts{placement="schema",status="deleted"}': 1,
    });
    expect(Object.keys(family(metrics, 'silo_hosts'))).toHaveLength(2 * 5);
    // A deleted host has no fill.
    expect(family(metrics, 'silo_host_capacity_tenants')).toEqual({
      'silo_host_capacity_tenants{host="pool-starter-001",placement="pool",tier="starter"}': 3,
    });
  });

  it('leaves the Redis families out while Redis is away, answers 200, and brings them back after', async () => {
    await redis.close();
    try {
      const down = await eventually(async () => {
        const m = await scrape();
        expect(family(m, 'silo_metrics_collector_up')).toEqual(
          collectorsUp({ queue_jobs: 0, job_outcomes: 0 }),
        );
        return m;
      });
      expect(family(down, 'silo_queue_jobs')).toEqual({});
      expect(family(down, 'silo_jobs_total')).toEqual({});
      expect(down.types.silo_queue_jobs).toBe('gauge');
      expect(Object.keys(family(down, 'silo_tenants'))).toHaveLength(7 * 3);
    } finally {
      await redis.open();
    }
    const back = await eventually(async () => {
      const m = await scrape();
      expect(family(m, 'silo_metrics_collector_up')).toEqual(collectorsUp({}));
      return m;
    });
    expect(Object.keys(family(back, 'silo_queue_jobs'))).toHaveLength(QUEUE_STATES.length);
  });

  it('answers 200 from an API that has never reached Redis', async () => {
    const isolated = await startApi(testConfig({ DATABASE_URL: url, REDIS_URL: 'redis://127.0.0.1:1' }));
    try {
      const res = await request(isolated.app.getHttpServer())
        .get('/metrics')
        .set('authorization', await isolated.auth(['sre']))
        .expect(200);
      const metrics = parseExposition(res.text);
      expect(family(metrics, 'silo_metrics_collector_up')).toEqual(
        collectorsUp({ queue_jobs: 0, job_outcomes: 0 }),
      );
      expect(family(metrics, 'silo_queue_jobs')).toEqual({});
      expect(Object.keys(family(metrics, 'silo_tenants'))).toHaveLength(7 * 3);
    } finally {
      await isolated.close();
    }
  });

  async function newTenant(tier: TierName, path: TenantStatus[]): Promise<string> {
    const { tenant } = await api.app
      .get(TenantOnboarding)
      .createTenant({ slug: `m-${uniqueToken(3)}`, name: 'Metrics Corp', tier }, ctx);
    let from: TenantStatus = 'PENDING';
    for (const to of path) {
      await api.app
        .get(TypeormProvisioningStore)
        .transition(tenant.id, from, to, {}, { type: 'test.transition', message: `${from} → ${to}` }, ctx);
      from = to;
    }
    return tenant.id;
  }
});

/** What a histogram of `observations` exposes: cumulative buckets, +Inf, sum and count. */
function histogram(saga: string, step: string, observations: number[]): Record<string, number> {
  const name = 'silo_provisioning_step_duration_seconds';
  const labels = `saga="${saga}",step="${step}"`;
  const out: Record<string, number> = {};
  for (const le of [...BUCKETS.map(String), '+Inf']) {
    const bound = le === '+Inf' ? Infinity : Number(le);
    out[`${name}_bucket{le="${le}",${labels}}`] = observations.filter((o) => o <= bound).length;
  }
  out[`${name}_sum{${labels}}`] = observations.reduce((a, b) => a + b, 0);
  out[`${name}_count{${labels}}`] = observations.length;
  return out;
}

function collectorsUp(down: Record<string, 0>): Record<string, number> {
  return Object.fromEntries(
    COLLECTORS.map((c) => [`silo_metrics_collector_up{collector="${c}"}`, down[c] ?? 1]),
  );
}
