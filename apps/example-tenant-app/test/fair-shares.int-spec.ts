import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { startExampleApp, TenantFixtures, TEST_PLACEMENTS, type TestTenant } from './example-app-harness';

jest.setTimeout(120_000);

// The fair shares as Silo ships them (no ROUTER_MAX_LEASES_* or ROUTER_LEASE_WAIT_MS set): on an
// otherwise idle process nothing waits for the connection budget, so a tenant's burst borrows
// the spare capacity and is served whole, cold start included. Pooled, all 13 tenants are on one
// host and share its one DataSource (ROUTER_POOL_SIZE_PER_HOST, 10 connections).
describe.each(TEST_PLACEMENTS)(
  'example tenant app: fair shares with the shipped defaults, %s placement',
  (placement) => {
    let fixtures: TenantFixtures;
    let app: INestApplication;
    let cold: TestTenant;
    let writers: TestTenant[];

    beforeAll(async () => {
      fixtures = await TenantFixtures.start(placement, { TENANT_DB_SSL: 'disable', LOG_LEVEL: 'silent' });
      [cold, ...writers] = await Promise.all(Array.from({ length: 13 }, () => fixtures.create()));
      app = await startExampleApp(fixtures.appConfig());
      // One listening server for every request (supertest would otherwise listen and close per request).
      await app.listen(0, '127.0.0.1');
    });

    afterAll(async () => {
      await app?.close();
      await fixtures?.dispose();
    });

    const http = () => request(app.getHttpServer());
    const list = (tenant: TestTenant) => http().get('/notes').set('authorization', tenant.authorization);
    const write = (tenant: TestTenant, text: string) =>
      http().post('/notes').set('authorization', tenant.authorization).send({ text });
    const statusCounts = (responses: { status: number }[]) => {
      const counts: Record<number, number> = {};
      for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
      return counts;
    };

    it('serves 300 concurrent requests to a tenant with no DataSource yet, every one 200', async () => {
      const burst = await Promise.all(Array.from({ length: 300 }, () => list(cold)));
      expect(statusCounts(burst)).toEqual({ 200: 300 });

      const metrics = await http().get('/metrics');
      expect(metrics.text).toMatch(/^silo_tenant_router_initialisations_total 1$/m);
      expect(metrics.text).toMatch(/^silo_tenant_router_lease_rejections_total\{tier="starter"\} 0$/m);
      expect(metrics.text).toMatch(/^silo_tenant_router_leases 0$/m);
    });

    it('serves 15 concurrent writes to each of 12 tenants, each stored where its data lives', async () => {
      const burst = await Promise.all(
        writers.flatMap((tenant, t) =>
          Array.from({ length: 15 }, (_, n) => write(tenant, `tenant ${t} note ${n}`)),
        ),
      );
      expect(statusCounts(burst)).toEqual({ 201: 180 });
      for (const [t, tenant] of writers.entries())
        expect((await fixtures.notesInDatabase(tenant)).sort()).toEqual(
          Array.from({ length: 15 }, (_, n) => `tenant ${t} note ${n}`).sort(),
        );

      // A DataSource for each tenant of its own; one for the whole pool host.
      const metrics = await http().get('/metrics');
      expect(metrics.text).toMatch(
        new RegExp(`^silo_tenant_router_open_datasources ${placement === 'pool' ? 1 : 13}$`, 'm'),
      );
    });
  },
);
