import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { runDatabaseUrl } from '../../../test/support/test-services';
import { controlPlaneDataSourceOptions } from '../../control-plane-db/src';
import { TypeormProvisioningStore } from '../src';

describe('TypeormProvisioningStore.withTenantLock on PostgreSQL', () => {
  const open = () =>
    new DataSource(
      controlPlaneDataSourceOptions({
        url: runDatabaseUrl(),
        poolMax: 3,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    ).initialize();
  let a: DataSource;
  let b: DataSource;
  beforeAll(async () => {
    [a, b] = await Promise.all([open(), open()]);
  });
  afterAll(async () => {
    await Promise.all([a.destroy(), b.destroy()]);
  });

  it('lets one process at a time run a pass for a tenant, and frees the lock afterwards', async () => {
    const tenantId = randomUUID();
    const first = new TypeormProvisioningStore(a);
    const second = new TypeormProvisioningStore(b);
    let release!: () => void;
    const held = first.withTenantLock(
      tenantId,
      () => new Promise<string>((resolve) => (release = () => resolve('first done'))),
    );
    await new Promise((r) => setTimeout(r, 50));

    expect(await second.withTenantLock(tenantId, () => Promise.resolve('second ran'))).toBe('locked');
    expect(await second.withTenantLock(randomUUID(), () => Promise.resolve('other tenant ran'))).toBe(
      'other tenant ran',
    );

    release();
    expect(await held).toBe('first done');
    expect(await second.withTenantLock(tenantId, () => Promise.resolve('second ran'))).toBe('second ran');
  });

  it('frees the lock when the work fails', async () => {
    const tenantId = randomUUID();
    const store = new TypeormProvisioningStore(a);
    await expect(store.withTenantLock(tenantId, () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    expect(await new TypeormProvisioningStore(b).withTenantLock(tenantId, () => Promise.resolve('ok'))).toBe(
      'ok',
    );
  });
});
