import { AsyncResource } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { HttpException, type CallHandler, type ExecutionContext } from '@nestjs/common';
import { defer, from, lastValueFrom } from 'rxjs';
import type { DataSource } from 'typeorm';
import type { TenantRouter } from '../tenant-router';
import {
  pooledTenantNeedsTransaction,
  TenantAccessError,
  TenantAccessErrorCode,
  TenantLeaseError,
  TenantLeaseErrorCode,
} from '../tenant-router.errors';
import { TENANT_IDENTITY } from './tenant-auth.guard';
import { TenantContext } from './tenant-context';
import { TenantContextInterceptor } from './tenant-context.interceptor';
import type { TenantRequestRate } from '../tenant-request-rate';

const TENANT = '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f';
const dataSource = { name: 'tenant-ds' } as unknown as DataSource;

function setup(acquire: () => Promise<{ release: jest.Mock }>, rate: TenantRequestRate | null = null) {
  const router = {
    acquire: jest.fn(acquire),
    tierOf: jest.fn(() => 'pro'),
    reportWriteRefused: jest.fn(
      (tenantId: string) =>
        new TenantAccessError(TenantAccessErrorCode.TENANT_MOVING, 'moving', {
          tenantId,
          retryAfterMs: 1000,
        }),
    ),
  } as unknown as TenantRouter;
  const req = {
    [TENANT_IDENTITY]: { tenantId: TENANT, principal: { sub: 's', roles: [], tenantId: TENANT } },
  };
  const res = new EventEmitter();
  const context = {
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
  } as unknown as ExecutionContext;
  return { interceptor: new TenantContextInterceptor(router, rate), context, res, router };
}

/** As Nest's InterceptorsConsumer builds it: handle() binds the async context it is called in. */
function handler(work: () => Promise<unknown>): CallHandler & { calls: number } {
  const h = {
    calls: 0,
    handle: () => defer(AsyncResource.bind(() => from((h.calls++, work())))),
  };
  return h;
}

const lease = () => ({
  tenantId: TENANT,
  placement: 'instance' as const,
  dataSource,
  schemaVersion: '0003',
  transaction: jest.fn((work: (manager: unknown) => Promise<unknown>) => work('instance-manager')),
  release: jest.fn(),
  reportAuthenticationFailure: jest.fn(() => Promise.resolve()),
});

/** A pooled tenant's lease: its DataSource is refused, its transactions get their own manager. */
const pooledLease = () => ({
  ...lease(),
  placement: 'pool' as const,
  get dataSource(): never {
    throw pooledTenantNeedsTransaction(TENANT);
  },
  transaction: jest.fn((work: (manager: unknown) => Promise<unknown>) => work('pooled-manager')),
});

describe('TenantContextInterceptor', () => {
  it('counts the request against its tenant’s rate, by tier, before taking a lease, and takes none when refused', async () => {
    const held = lease();
    const refusal = new TenantAccessError(TenantAccessErrorCode.TENANT_RATE_LIMITED, 'over', {
      tenantId: TENANT,
      retryAfterMs: 300,
    });
    const take = jest
      .fn<Promise<void>, [string, string]>()
      .mockResolvedValueOnce()
      .mockRejectedValueOnce(refusal);
    const rate = { enabled: true, take } as unknown as TenantRequestRate;
    const { interceptor, context, router } = setup(() => Promise.resolve(held), rate);

    await lastValueFrom(
      interceptor.intercept(
        context,
        handler(() => Promise.resolve('ok')),
      ),
    );
    expect(take).toHaveBeenCalledWith(TENANT, 'pro');
    expect(router.acquire).toHaveBeenCalledTimes(1);

    const h = handler(() => Promise.resolve('never'));
    await expect(lastValueFrom(interceptor.intercept(context, h))).rejects.toBe(refusal);
    expect(router.acquire).toHaveBeenCalledTimes(1);
    expect(h.calls).toBe(0);
  });

  it('runs the handler inside the tenant context (id, DataSource, schema version) and releases the lease once the response is over', async () => {
    const held = lease();
    const { interceptor, context, res } = setup(() => Promise.resolve(held));
    const seen = await lastValueFrom(
      interceptor.intercept(
        context,
        handler(async () => {
          await new Promise((r) => setImmediate(r));
          return [TenantContext.tenantId(), TenantContext.dataSource(), TenantContext.schemaVersion()];
        }),
      ),
    );
    expect(seen).toEqual([TENANT, dataSource, '0003']);
    expect(held.release).not.toHaveBeenCalled();
    res.emit('finish');
    res.emit('close');
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('runs TenantContext.transaction on the lease and refuses a pooled tenant’s DataSource, manager and repositories', async () => {
    const held = pooledLease();
    const { interceptor, context, res } = setup(() => Promise.resolve(held));
    const seen = await lastValueFrom(
      interceptor.intercept(
        context,
        handler(async () => {
          const refusals = [
            () => TenantContext.dataSource(),
            () => TenantContext.manager(),
            () => TenantContext.repository('notes'),
            () => TenantContext.current().dataSource,
          ].map((use) => {
            try {
              use();
              return 'allowed';
            } catch (error) {
              return error instanceof TenantLeaseError ? error.code : String(error);
            }
          });
          const manager = await TenantContext.transaction((m) => Promise.resolve(m));
          return { refusals, manager, placement: TenantContext.placement() };
        }),
      ),
    );
    expect(seen).toEqual({
      refusals: Array(4).fill(TenantLeaseErrorCode.POOLED_TENANT_NEEDS_TRANSACTION),
      manager: 'pooled-manager',
      placement: 'pool',
    });
    expect(held.transaction).toHaveBeenCalledTimes(1);
    res.emit('close');
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('releases the lease when the handler fails, once the error response is over', async () => {
    const held = lease();
    const { interceptor, context, res } = setup(() => Promise.resolve(held));
    await expect(
      lastValueFrom(
        interceptor.intercept(
          context,
          handler(() => Promise.reject(new Error('boom'))),
        ),
      ),
    ).rejects.toThrow('boom');
    expect(held.release).not.toHaveBeenCalled();
    res.emit('close');
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('on 28P01 from the handler has the router rotate the credentials and answers 503, without re-running the handler', async () => {
    const held = lease();
    const { interceptor, context, res } = setup(() => Promise.resolve(held));
    const h = handler(() =>
      Promise.reject(Object.assign(new Error('password authentication failed'), { code: '28P01' })),
    );
    const error = (await lastValueFrom(interceptor.intercept(context, h)).catch(
      (e: unknown) => e,
    )) as TenantAccessError;
    expect(error).toBeInstanceOf(TenantAccessError);
    expect(error.code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
    expect(error.details.retryAfterMs).toBeGreaterThan(0);
    expect(held.reportAuthenticationFailure).toHaveBeenCalledTimes(1);
    expect(h.calls).toBe(1);
    res.emit('close');
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('on 25006 from the handler’s own queries has the router look the tenant up and answers TENANT_MOVING', async () => {
    const held = lease();
    const { interceptor, context, res, router } = setup(() => Promise.resolve(held));
    const refused = Object.assign(new Error('tenant is moving: its writes are paused here'), {
      code: '25006',
    });
    const error = (await lastValueFrom(
      interceptor.intercept(
        context,
        handler(() => Promise.reject(refused)),
      ),
    ).catch((e: unknown) => e)) as TenantAccessError;
    expect(error.code).toBe(TenantAccessErrorCode.TENANT_MOVING);
    expect(router.reportWriteRefused).toHaveBeenCalledWith(TENANT, refused);
    res.emit('close');
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('keeps the lease while the handler still runs after the client went away', async () => {
    const held = lease();
    const { interceptor, context, res } = setup(() => Promise.resolve(held));
    let finish!: () => void;
    const running = lastValueFrom(
      interceptor.intercept(
        context,
        handler(() => new Promise<void>((r) => (finish = r))),
      ),
    );
    await new Promise((r) => setImmediate(r));
    res.emit('close');
    expect(held.release).not.toHaveBeenCalled();
    finish();
    await running.catch(() => undefined);
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('gives the lease back at once and skips the handler when the client left while the DataSource opened', async () => {
    const held = lease();
    let open!: () => void;
    const { interceptor, context, res } = setup(() => new Promise((resolve) => (open = () => resolve(held))));
    const h = handler(() => Promise.resolve('never'));
    const result = lastValueFrom(interceptor.intercept(context, h)).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    res.emit('close');
    open();
    const error = await result;
    expect(error).toBeInstanceOf(HttpException);
    expect((error as HttpException).getStatus()).toBe(499);
    expect(h.calls).toBe(0);
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('gives the lease back when the client left before the interceptor ran (no close event will come)', async () => {
    const held = lease();
    const { interceptor, context, res } = setup(() => Promise.resolve(held));
    // As Node leaves a response whose socket closed during an async guard: destroyed, and its
    // 'close' already emitted to nobody.
    Object.assign(res, { destroyed: true });
    const h = handler(() => Promise.resolve('never'));
    const error = await lastValueFrom(interceptor.intercept(context, h)).catch((e: unknown) => e);
    expect((error as HttpException).getStatus()).toBe(499);
    expect(h.calls).toBe(0);
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('gives back a lease that arrives after the stream was unsubscribed (a server-sent events client left)', async () => {
    const held = lease();
    let open!: () => void;
    const { interceptor, context, res } = setup(() => new Promise((resolve) => (open = () => resolve(held))));
    const h = handler(() => Promise.resolve('never'));
    const subscription = interceptor.intercept(context, h).subscribe({ error: () => undefined });
    await new Promise((r) => setImmediate(r));
    res.emit('close');
    subscription.unsubscribe();
    open();
    await new Promise((r) => setImmediate(r));
    expect(h.calls).toBe(0);
    expect(held.release).toHaveBeenCalledTimes(1);
  });

  it('lets a router refusal through before the handler runs', async () => {
    const refusal = new TenantAccessError(TenantAccessErrorCode.TENANT_NOT_ACTIVE, 'suspended', {
      tenantId: TENANT,
      status: 'SUSPENDED',
    });
    const { interceptor, context } = setup(() => Promise.reject(refusal));
    const h = handler(() => Promise.resolve('never'));
    await expect(lastValueFrom(interceptor.intercept(context, h))).rejects.toBe(refusal);
    expect(h.calls).toBe(0);
  });
});
