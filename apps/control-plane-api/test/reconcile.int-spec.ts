import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { eventually } from '../../../test/support/eventually';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { OutboxRelay, ProvisioningQueue } from '@silo/queue';
import { Reconciliation } from '@silo/fleet';
import { reconciliationResource } from '../src/reconcile/reconcile.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(60_000);

describe('POST /v1/reconcile and GET /v1/reconciliation', () => {
  let database: { name: string; url: string };
  let api: ApiHarness;
  let worker: INestApplicationContext;

  beforeAll(async () => {
    database = await createOwnDatabase('reconcile_api');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: `ra${uniqueToken(3)}`,
      ...fastLocalSagaEnvironment(),
      RECONCILE_INTERVAL_SECONDS: '3600',
    });
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    api = await startApi(config);
  });

  afterAll(async () => {
    await api?.close();
    await worker?.close();
    if (database) await dropDatabase(database.name);
  });

  it('queues a pass for an admin, which a worker runs and the API then reports; other roles may only read', async () => {
    const server = api.app.getHttpServer();
    const sre = await api.auth(['sre']);
    expect((await request(server).post('/v1/reconcile').set('authorization', sre)).status).toBe(403);
    expect((await request(server).post('/v1/reconcile')).status).toBe(401);

    const queued = await request(server)
      .post('/v1/reconcile')
      .set('authorization', await api.auth(['admin'], 'reconcile-admin'));
    expect(queued.status).toBe(202);
    expect(queued.body).toEqual({ jobId: expect.stringMatching(/^reconcile-[0-9a-f-]{36}$/) });

    // The worker's own scheduled pass may run before or after this one: wait for this one.
    const dataSource = worker.get(DataSource);
    await eventually(async () => {
      const rows = await dataSource.query<{ finished: boolean }[]>(
        `SELECT finished_at IS NOT NULL AS finished FROM reconcile_passes WHERE triggered_by = 'reconcile-admin'`,
      );
      expect(rows).toEqual([{ finished: true }]);
    }, 30_000);
    const res = await request(server).get('/v1/reconciliation').set('authorization', sre);
    expect(res.status).toBe(200);
    const report = reconciliationResource.parse(res.body);
    expect(report.lastPass).toMatchObject({
      finishedAt: expect.any(String),
      tenantsChecked: 0,
      redriven: 0,
      drift: { checked: 0, repaired: 0, reported: 0, critical: 0 },
      orphans: 0,
      error: null,
    });
    expect(report.findings).toEqual([]);

    // That pass started (and ended): asking again queues a new one.
    const next = await request(server)
      .post('/v1/reconcile')
      .set('authorization', await api.auth(['admin'], 'reconcile-admin'));
    expect(next.status).toBe(202);
    expect(next.body.jobId).not.toBe(queued.body.jobId);
  });
});

describe('POST /v1/reconcile while a pass is pending, and a failed pass in GET /v1/reconciliation', () => {
  let database: { name: string; url: string };
  let api: ApiHarness;

  beforeAll(async () => {
    database = await createOwnDatabase('reconcile_pending');
    // No worker: a queued pass stays pending.
    api = await startApi(
      testConfig({ DATABASE_URL: database.url, SILO_RESOURCE_PREFIX: `rp${uniqueToken(3)}` }),
    );
  });

  afterAll(async () => {
    await api?.close();
    if (database) await dropDatabase(database.name);
  });

  const reconcileRows = () =>
    api.app
      .get(DataSource)
      .query<{ job_id: string }[]>(`SELECT job_id FROM outbox WHERE job_name = 'reconcile' ORDER BY id`);

  it('answers ten concurrent requests with one pending pass, in the outbox and once queued, until it is gone', async () => {
    const server = api.app.getHttpServer();
    const admins = await Promise.all(Array.from({ length: 10 }, (_, i) => api.auth(['admin'], `admin-${i}`)));
    const answers = await Promise.all(
      admins.map((admin) => request(server).post('/v1/reconcile').set('authorization', admin)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(202));
    const ids = new Set(answers.map((a) => (a.body as { jobId: string }).jobId));
    expect(ids.size).toBe(1);
    const [jobId] = ids;
    expect(await reconcileRows()).toEqual([{ job_id: jobId }]);

    // Relayed to the queue and not started: still the pending pass.
    const queue = api.app.get(ProvisioningQueue);
    expect(await new OutboxRelay(api.app.get(DataSource), queue, api.config).relayOnce()).toBe(1);
    expect(await queue.isWaiting(jobId)).toBe(true);
    const again = await request(server).post('/v1/reconcile').set('authorization', admins[0]);
    expect(again.body).toEqual({ jobId });

    // Gone from the queue (as a started or finished pass is, for this purpose): a new pass.
    await queue.queue.remove(jobId);
    const fresh = await request(server).post('/v1/reconcile').set('authorization', admins[0]);
    expect(fresh.status).toBe(202);
    expect(fresh.body.jobId).not.toBe(jobId);
    expect(await reconcileRows()).toHaveLength(2);
  });

  it('asks the queue with no lock and no connection held, so a Redis that hangs stalls no other request', async () => {
    const db = api.app.get(DataSource);
    const reconciliation = api.app.get(Reconciliation);
    const ctx = { actor: 'admin-slow-redis', correlationId: 'slow-redis' };
    // A pending pass the relay has queued; then the queue is asked about it and does not answer.
    const first = await reconciliation.request(ctx, { isWaiting: () => Promise.resolve(false) });
    await db.query('UPDATE outbox SET dispatched_at = now() WHERE job_id = $1', [first.jobId]);
    let answer!: (waiting: boolean) => void;
    let asked!: () => void;
    const askedNow = new Promise<void>((resolve) => (asked = resolve));
    const hanging = reconciliation.request(ctx, {
      isWaiting: () => {
        asked();
        return new Promise<boolean>((r) => (answer = r));
      },
    });
    await askedNow;
    const [{ free }] = await db.query<{ free: boolean }[]>(
      `SELECT pg_try_advisory_lock(hashtext('silo:reconcile-request')) AS free`,
    );
    expect(free).toBe(true);
    await db.query(`SELECT pg_advisory_unlock(hashtext('silo:reconcile-request'))`);
    answer(true);
    expect(await hanging).toEqual(first);
  });

  it('shows a failed pass’s error as a code and a generic message, never its detail', async () => {
    const detail =
      'acme-corp: User: arn:aws:iam::123456789012:user/silo is not authorized to perform rds:DescribeDBInstances';
    await api.app
      .get(DataSource)
      .query(
        `INSERT INTO reconcile_passes (triggered_by, started_at, finished_at, error) VALUES ('schedule', now() + interval '1 hour', now() + interval '1 hour', $1)`,
        [`1 item(s) could not be checked, left for the next pass: ${detail}`],
      );
    const res = await request(api.app.getHttpServer())
      .get('/v1/reconciliation')
      .set('authorization', await api.auth(['sre']));
    expect(res.status).toBe(200);
    const report = reconciliationResource.parse(res.body);
    expect(report.lastPass?.error).toEqual({
      code: 'PASS_INCOMPLETE',
      message: expect.stringMatching(/could not be checked/),
    });
    expect(JSON.stringify(res.body)).not.toMatch(/acme-corp|arn:aws|123456789012|DescribeDBInstances/);
  });
});
