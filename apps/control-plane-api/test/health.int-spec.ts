import { Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { eventually } from '../../../test/support/eventually';
import { testConfig } from '../../../test/support/test-config';
import { runDatabaseUrl, testServices } from '../../../test/support/test-services';
import { AppModule } from '../src/app.module';
import { DependencyProbes } from '../src/health/dependency-probes';
import { READINESS_CACHE_MS } from '../src/health/readiness.service';
import { target, through } from './proxied-url';

describe('control-plane API health', () => {
  let app: INestApplication;
  let postgres: TcpProxy;
  let redis: TcpProxy;
  // /readyz answers from one check per second: the tests move its clock (performance.now) on
  // instead of sleeping, or stop it to hold a window open on a loaded machine.
  const realNow = performance.now.bind(performance);
  let skewMs = 0;
  let stoppedAt: number | undefined;
  const passWindow = () => {
    skewMs += READINESS_CACHE_MS + 1;
  };
  const stopClock = () => {
    stoppedAt = realNow();
  };

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

  beforeEach(() => {
    jest.spyOn(performance, 'now').mockImplementation(() => (stoppedAt ?? realNow()) + skewMs);
    passWindow();
  });

  afterAll(async () => {
    await app?.close();
    await postgres?.close();
    await redis?.close();
  });

  // Each test starts from a ready API: after a cut, clients reconnect within a couple of seconds.
  afterEach(async () => {
    stoppedAt = undefined;
    await postgres.open();
    await redis.open();
    await eventually(async () => {
      passWindow();
      await request(app.getHttpServer()).get('/readyz').expect(200);
    });
    jest.restoreAllMocks();
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
    passWindow();
    const res = await request(app.getHttpServer()).get('/readyz').expect(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'about:blank',
      status: 503,
      title: 'Service Unavailable',
      detail: 'not ready: redis',
      checks: { postgres: { status: 'up' }, redis: { status: 'down' } },
    });

    await redis.open();
    await eventually(async () => {
      passWindow();
      await request(app.getHttpServer()).get('/readyz').expect(200);
    });
  });

  it('answers /readyz 503 naming PostgreSQL when PostgreSQL is gone, without the driver’s error', async () => {
    await postgres.close();
    passWindow();
    const res = await request(app.getHttpServer()).get('/readyz').expect(503);
    expect(res.body).toEqual({
      type: 'about:blank',
      status: 503,
      title: 'Service Unavailable',
      detail: 'not ready: postgres',
      checks: { postgres: { status: 'down' }, redis: { status: 'up' } },
    });
    // The driver says "connect ECONNREFUSED 127.0.0.1:<port>": none of it reaches the caller.
    for (const leak of ['127.0.0.1', String(postgres.port), 'ECONNREFUSED', 'connect']) {
      expect(res.text).not.toContain(leak);
    }
  });

  it('logs why a check failed at warn, once per change of state', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const log = jest.spyOn(Logger.prototype, 'log');
    await postgres.close();
    for (let i = 0; i < 3; i++) {
      passWindow();
      await request(app.getHttpServer()).get('/readyz').expect(503);
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(
      { failing: { postgres: expect.stringMatching(/ECONNREFUSED|Connection terminated/) } },
      'not ready: postgres did not answer',
    );

    await postgres.open();
    await eventually(async () => {
      passWindow();
      await request(app.getHttpServer()).get('/readyz').expect(200);
    });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledWith('ready: PostgreSQL and Redis answer again');
  });

  it('checks PostgreSQL once for every call within a second, concurrent or not', async () => {
    const checks = jest.spyOn(app.get(DependencyProbes), 'postgres');
    stopClock();
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => request(app.getHttpServer()).get('/readyz')),
    );
    const sequential = [];
    for (let i = 0; i < 5; i++) sequential.push(await request(app.getHttpServer()).get('/readyz'));
    expect([...concurrent, ...sequential].map((res) => res.status)).toEqual(Array(15).fill(200));
    expect(checks).toHaveBeenCalledTimes(1);
  });

  it('answers from a new check once the second has passed', async () => {
    const checks = jest.spyOn(app.get(DependencyProbes), 'postgres');
    stopClock();
    await request(app.getHttpServer()).get('/readyz').expect(200);
    await postgres.close();
    // Within the window the answer stands, though PostgreSQL is gone.
    await request(app.getHttpServer()).get('/readyz').expect(200);
    expect(checks).toHaveBeenCalledTimes(1);
    passWindow();
    await request(app.getHttpServer()).get('/readyz').expect(503);
    expect(checks).toHaveBeenCalledTimes(2);
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
