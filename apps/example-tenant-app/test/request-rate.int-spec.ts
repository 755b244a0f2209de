import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { startExampleApp, TenantFixtures, TEST_PLACEMENTS, type TestTenant } from './example-app-harness';

jest.setTimeout(60_000);

// Three requests per second per starter tenant, counted in Redis; enterprise tenants unlimited.
// Pooled or on schema hosts, the two starter tenants share one host.
describe.each(TEST_PLACEMENTS)('example tenant app: request rate per tenant, %s placement', (placement) => {
  let fixtures: TenantFixtures;
  let app: INestApplication;
  let noisy: TestTenant;
  let quiet: TestTenant;
  let enterprise: TestTenant;

  beforeAll(async () => {
    fixtures = await TenantFixtures.start(placement, {
      TENANT_DB_SSL: 'disable',
      LOG_LEVEL: 'silent',
      ROUTER_REQUESTS_PER_SECOND_STARTER: '3',
    });
    [noisy, quiet, enterprise] = await Promise.all([
      fixtures.create(),
      fixtures.create(),
      fixtures.create({ tier: 'enterprise' }),
    ]);
    app = await startExampleApp(fixtures.appConfig());
  });

  afterAll(async () => {
    await app?.close();
    await fixtures?.dispose();
  });

  const list = (tenant: TestTenant) =>
    request(app.getHttpServer()).get('/notes').set('authorization', tenant.authorization);

  it('answers a tenant over its tier’s requests per second 429 with Retry-After, and serves other tenants', async () => {
    const [burst, other, unlimited] = await Promise.all([
      Promise.all(Array.from({ length: 10 }, () => list(noisy))),
      list(quiet),
      Promise.all(Array.from({ length: 10 }, () => list(enterprise))),
    ]);
    expect(other.status).toBe(200);
    expect(unlimited.map((res) => res.status)).toEqual(Array(10).fill(200));
    expect(burst.every((res) => res.status === 200 || res.status === 429)).toBe(true);
    const served = burst.filter((res) => res.status === 200).length;
    expect(served).toBeGreaterThanOrEqual(1);
    expect(served).toBeLessThanOrEqual(6); // 3 per window; a burst may straddle two windows
    for (const res of burst.filter((r) => r.status === 429)) {
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 429, title: 'Too Many Requests' });
      expect(res.body.detail).toMatch(/as many requests this second as its tier allows/);
    }

    const metrics = await request(app.getHttpServer()).get('/metrics');
    expect(metrics.text).toMatch(/^silo_tenant_router_rate_limit_rejections_total\{tier="starter"\} [1-9]/m);
    expect(metrics.text).toMatch(/^silo_tenant_router_rate_limited_requests_total\{tier="enterprise"\} 0$/m);
    expect(metrics.text).toMatch(/^silo_tenant_router_leases 0$/m);
  });
});
