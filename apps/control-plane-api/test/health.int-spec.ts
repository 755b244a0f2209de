import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { eventually } from '../../../test/support/eventually';
import { testConfig } from '../../../test/support/test-config';
import { runDatabaseUrl, testServices } from '../../../test/support/test-services';
import { AppModule } from '../src/app.module';
import { target, through } from './proxied-url';

describe('control-plane API health', () => {
  let app: INestApplication;
  let postgres: TcpProxy;
  let redis: TcpProxy;

  beforeAll(async () => {
    // Both dependencies sit behind proxies the test can cut, never the machine's own servers.
    postgres = await TcpProxy.start(target(runDatabaseUrl(), 5432));
    redis = await TcpProxy.start(target(testServices.redisUrl, 6379));
    const config = testConfig({
      DATABASE_URL: through(runDatabaseUrl(), postgres),
      REDIS_URL: through(testServices.redisUrl, redis),
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
    });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.register(config)] }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await postgres?.close();
    await redis?.close();
  });

  // Each test starts from a ready API: after a cut, clients reconnect within a couple of seconds.
  afterEach(async () => {
    await postgres.open();
    await redis.open();
    await eventually(async () => {
      await request(app.getHttpServer()).get('/readyz').expect(200);
    });
  });

  it('answers /healthz without touching dependencies', async () => {
    await redis.close();
    await postgres.close();
    const res = await request(app.getHttpServer()).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 when PostgreSQL and Redis answer', async () => {
    const res = await request(app.getHttpServer()).get('/readyz').expect(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      details: { postgres: { status: 'up' }, redis: { status: 'up' } },
    });
  });

  it('answers /readyz 503 problem+json naming Redis when Redis is gone, and 200 once it is back', async () => {
    await redis.close();
    const res = await request(app.getHttpServer()).get('/readyz').expect(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      status: 503,
      title: 'Service Unavailable',
      detail: expect.stringMatching(/^not ready: redis \(/),
      checks: { postgres: { status: 'up' }, redis: { status: 'down' } },
    });
    expect(res.body.detail).not.toContain('postgres');

    await redis.open();
    await eventually(async () => {
      await request(app.getHttpServer()).get('/readyz').expect(200);
    });
  });

  it('answers /readyz 503 naming PostgreSQL when PostgreSQL is gone', async () => {
    await postgres.close();
    const res = await request(app.getHttpServer()).get('/readyz').expect(503);
    expect(res.body).toMatchObject({
      detail: expect.stringMatching(/^not ready: postgres \(/),
      checks: { postgres: { status: 'down' }, redis: { status: 'up' } },
    });
  });

  it("echoes the caller's x-request-id and makes one when absent", async () => {
    const given = await request(app.getHttpServer())
      .get('/healthz')
      .set('x-request-id', 'trace-123')
      .expect(200);
    expect(given.headers['x-request-id']).toBe('trace-123');
    const made = await request(app.getHttpServer()).get('/healthz').expect(200);
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers an unknown route with 404 problem+json', async () => {
    const res = await request(app.getHttpServer()).get('/v0/nothing-here').expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'Cannot GET /v0/nothing-here',
    });
  });
});
