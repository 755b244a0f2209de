import { NoteEntity } from '@silo/tenant-schema';
import { eventually } from '../../../test/support/eventually';
import { testConfig } from '../../../test/support/test-config';
import { TenantAccessError, TenantAccessErrorCode, TenantRouter } from '../src';
import { tenantRouterOptionsFromConfig } from '../../../test/support/tenant-router-options';
import {
  createTenantDatabases,
  dropTenantDatabases,
  FakeAppSecrets,
  FakeTenantDirectory,
  tenantIdOf,
  type TestTenant,
} from './tenant-router-fixtures';
import { appEndpoint } from '../../tenant-schema/test/tenant-db-fixtures';

const registry: TestTenant[] = [];
let noisy: TestTenant;
let quiet: TestTenant;
let latecomer: TestTenant;

beforeAll(async () => {
  [noisy, quiet, latecomer] = await createTenantDatabases(3, registry);
}, 120_000);

afterAll(async () => {
  await dropTenantDatabases(registry);
}, 60_000);

const idOf = (t: TestTenant) => tenantIdOf(t);

describe('TenantRouter fair shares on PostgreSQL', () => {
  it('holds a noisy tenant to its share while another tenant waits for the connection budget, and serves a quiet one', async () => {
    // The shipped fair shares (no ROUTER_MAX_LEASES_* or ROUTER_LEASE_WAIT_MS set), and a budget
    // of two connections, one per tenant, that two long queries keep busy.
    const config = testConfig({
      TENANT_DB_SSL: 'disable',
      ROUTER_CONNECTION_BUDGET: '2',
      ROUTER_POOL_SIZE_STARTER: '1',
      ROUTER_POOL_SIZE_PRO: '1',
      ROUTER_POOL_SIZE_ENTERPRISE: '1',
    });
    const cap = config.router.maxLeasesPerTenantByTier.starter;
    const directory = new FakeTenantDirectory();
    const secrets = new FakeAppSecrets();
    for (const t of [noisy, quiet, latecomer]) {
      directory.add(idOf(t));
      const at = appEndpoint(t);
      secrets.put(idOf(t), {
        host: at.host,
        port: at.port,
        dbname: at.database,
        username: at.user,
        password: at.password,
      });
    }
    const router = new TenantRouter(directory, secrets, tenantRouterOptionsFromConfig(config, [NoteEntity]));
    try {
      const sleep = (t: TestTenant, seconds: number) =>
        router.run(idOf(t), (ds) => ds.query('SELECT pg_sleep($1)', [seconds]));
      await sleep(noisy, 0);
      await sleep(quiet, 0);

      // Nothing waits yet: the noisy tenant borrows a lease past its cap.
      const held = await Promise.all(Array.from({ length: cap + 1 }, () => router.acquire(idOf(noisy))));
      expect(router.stats().shares.starter).toMatchObject({ borrowed: 1, waits: 0, rejections: 0 });
      const busy = [sleep(noisy, 2), sleep(quiet, 2)];
      // A third tenant's first connection waits for a place: the budget is contended.
      const late = router.run(idOf(latecomer), (ds) => ds.query('SELECT 1'));
      await eventually(() => Promise.resolve(expect(router.stats().connectionsWaiting).toBe(1)), 2_500, 10);

      const over = await Promise.allSettled(Array.from({ length: 3 }, () => router.acquire(idOf(noisy))));
      for (const outcome of over) {
        expect(outcome.status).toBe('rejected');
        const error = (outcome as PromiseRejectedResult).reason as TenantAccessError;
        expect(error).toBeInstanceOf(TenantAccessError);
        expect(error.code).toBe(TenantAccessErrorCode.TENANT_BUSY);
      }
      // The quiet tenant, under its cap, gets its lease at once and its query answered.
      const waitsBefore = router.stats().shares.starter.waits;
      const answer = router.run(idOf(quiet), (ds) => ds.getRepository(NoteEntity).count());
      expect(router.stats().shares.starter.waits).toBe(waitsBefore);
      for (const lease of held) lease.release();
      await expect(answer).resolves.toEqual(expect.any(Number));
      await Promise.all([...busy, late]);
      expect(router.stats()).toMatchObject({ leases: 0, peakConnections: 2 });
      expect(router.stats().shares.starter.rejections).toBe(3);
    } finally {
      await router.close();
    }
  }, 60_000);
});
