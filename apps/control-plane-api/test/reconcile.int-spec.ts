import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { eventually } from '../../../test/support/eventually';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
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
  });
});
