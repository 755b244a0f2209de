import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { testConfig } from '../../../test/support/test-config';
import { startExampleApp, TenantFixtures, type TestTenant } from './example-app-harness';

jest.setTimeout(60_000);

// One request in flight per starter tenant and none waiting: a burst of one tenant is refused
// with 429 while another tenant of the same tier is served.
const config = testConfig({
  TENANT_DB_SSL: 'disable',
  LOG_LEVEL: 'silent',
  ROUTER_MAX_LEASES_PER_TENANT_STARTER: '1',
  ROUTER_MAX_LEASE_WAITERS_PER_TENANT: '0',
});
const fixtures = new TenantFixtures(config);
let app: INestApplication;
let noisy: TestTenant;
let quiet: TestTenant;

beforeAll(async () => {
  [noisy, quiet] = await Promise.all([fixtures.create(), fixtures.create()]);
  app = await startExampleApp(config);
});

afterAll(async () => {
  await app?.close();
  await fixtures.dispose();
});

const list = (tenant: TestTenant) =>
  request(app.getHttpServer()).get('/notes').set('authorization', tenant.authorization);

describe('example tenant app: fair shares', () => {
  it('answers a burst past the tenant’s lease cap 429 with Retry-After, and serves another tenant meanwhile', async () => {
    expect((await list(noisy)).status).toBe(200);
    const [burst, other] = await Promise.all([
      Promise.all(Array.from({ length: 40 }, () => list(noisy))),
      list(quiet),
    ]);
    expect(other.status).toBe(200);
    const refused = burst.filter((res) => res.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(burst.every((res) => res.status === 200 || res.status === 429)).toBe(true);
    for (const res of refused) {
      expect(res.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 429, title: 'Too Many Requests' });
    }

    const metrics = await request(app.getHttpServer()).get('/metrics');
    expect(metrics.text).toMatch(/^silo_tenant_router_lease_rejections_total\{tier="starter"\} [1-9]/m);
    expect(metrics.text).toMatch(/^silo_tenant_router_top_tenant_lease_seconds\{tenant_id="[^"]+"\} /m);
    expect(metrics.text).toMatch(/^silo_tenant_router_leases 0$/m);
  });
});
