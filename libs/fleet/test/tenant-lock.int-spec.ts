import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { runDatabaseUrl } from '../../../test/support/test-services';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { controlPlaneDataSourceOptions, TenantEntity } from '../../control-plane-db/src';
import { loadTierProfiles, TenantOnboarding, TypeormProvisioningStore } from '../src';

const open = (poolMax = 3) =>
  new DataSource(
    controlPlaneDataSourceOptions({
      url: runDatabaseUrl(),
      poolMax,
      connectTimeoutMs: 3000,
      applicationName: 'silo-test',
    }),
  ).initialize();

describe('TypeormProvisioningStore.withTenantLock on PostgreSQL', () => {
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

describe('TypeormProvisioningStore.transition with a step completion', () => {
  let ds: DataSource;
  beforeAll(async () => {
    ds = await open(2);
  });
  afterAll(() => ds?.destroy());

  const CTX = { actor: 'system:worker', correlationId: 'store-test' };
  const completion = (position: number) => ({
    saga: 'provision' as const,
    name: 'activate',
    position,
    finishedAt: new Date(),
    event: { type: 'step.completed', message: 'activate done', data: { step: 'activate' } },
  });

  async function provisioningTenant(): Promise<string> {
    const { tenant } = await new TenantOnboarding(ds, {
      tiers: loadTierProfiles(testConfig().tenants.tierProfilesFile),
    }).createTenant({ slug: `atomic-${uniqueToken(3)}`, name: 'Atomic', tier: 'starter' }, CTX);
    await ds.getRepository(TenantEntity).update({ id: tenant.id }, { status: 'PROVISIONING' });
    return tenant.id;
  }

  it('records the status and the step as one fact: both, or (when the step cannot be written) neither', async () => {
    const store = new TypeormProvisioningStore(ds);
    const event = { type: 'tenant.activated', message: 'ACTIVE' };

    const ok = await provisioningTenant();
    await store.transition(ok, 'PROVISIONING', 'ACTIVE', { completeStep: completion(7) }, event, CTX);
    expect((await store.getTenant(ok))!.status).toBe('ACTIVE');
    expect((await store.getSteps(ok, 'provision')).get('activate')).toMatchObject({ status: 'done' });

    // A position beyond smallint makes the step write fail inside the transaction.
    const broken = await provisioningTenant();
    await expect(
      store.transition(broken, 'PROVISIONING', 'ACTIVE', { completeStep: completion(70_000) }, event, CTX),
    ).rejects.toThrow();
    expect((await store.getTenant(broken))!.status).toBe('PROVISIONING');
    expect((await store.getSteps(broken, 'provision')).size).toBe(0);
  });
});
