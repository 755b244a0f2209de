import { Logger, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { testConfig } from '../../../test/support/test-config';
import { testServices } from '../../../test/support/test-services';
import { WorkerReadinessService } from '../src/worker-readiness.service';
import { DataSource } from 'typeorm';
import { WorkerModule, workerPoolMax } from '../src/worker.module';

describe('provisioning worker readiness', () => {
  let app: INestApplicationContext | undefined;
  let redis: TcpProxy | undefined;

  afterEach(async () => {
    jest.restoreAllMocks();
    await app?.close();
    await redis?.close();
  });

  it('logs which dependency is missing, then "worker ready" once Redis answers', async () => {
    const logged = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { hostname, port } = new URL(testServices.redisUrl);
    redis = await TcpProxy.start({ host: hostname, port: Number(port || 6379) });
    const proxyPort = redis.port;
    await redis.close();

    const config = testConfig({ REDIS_URL: `redis://127.0.0.1:${proxyPort}` });
    const moduleRef = await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile();
    app = await moduleRef.init();
    const readiness = app.get(WorkerReadinessService);

    expect(await readiness.check()).toEqual({ postgres: null, redis: expect.any(String) });
    await waitFor(() =>
      warned.mock.calls.some(([, message]) => message === 'worker not ready: redis did not answer'),
    );
    expect(logged.mock.calls.some(([, message]) => message === 'worker ready')).toBe(false);

    await redis.open();
    await readiness.whenReady();
    expect(logged).toHaveBeenCalledWith({ checks: { postgres: 'up', redis: 'up' } }, 'worker ready');
    expect(await readiness.check()).toEqual({ postgres: null, redis: null });
  });

  it('opens its control-plane pool with two connections per job slot and two more, whatever DATABASE_POOL_MAX says', async () => {
    const config = testConfig({ DATABASE_POOL_MAX: '3', WORKER_CONCURRENCY: '6' });
    app = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    expect((app.get(DataSource).options as { extra?: { max?: number } }).extra?.max).toBe(14);
    expect(workerPoolMax(testConfig({ DATABASE_POOL_MAX: '40', WORKER_CONCURRENCY: '6' }))).toBe(40);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
