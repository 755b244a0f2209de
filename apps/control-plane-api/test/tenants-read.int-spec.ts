import type { INestApplication } from '@nestjs/common';
import { TenantOnboarding } from '@silo/fleet';
import request from 'supertest';
import { TEST_REGIONS, testConfig, uniqueToken } from '../../../test/support/test-config';
import { FleetAlarms } from '../src/alarms/fleet-alarms.service';
import { startApi, type ApiHarness } from './api-harness';

describe('tenant read routes', () => {
  let api: ApiHarness;
  let app: INestApplication;

  beforeAll(async () => {
    api = await startApi(testConfig());
    app = api.app;
    // firingAlarms is null until the API's first background read of CloudWatch.
    await app.get(FleetAlarms).refresh();
  });
  afterAll(() => api?.close());

  it('shows a tenant by id and by slug, in the contract shape, to every role', async () => {
    const slug = `read-${uniqueToken(3)}`;
    const { tenant: created } = await app
      .get(TenantOnboarding)
      .createTenant({ slug, name: 'Read Corp', tier: 'pro' }, { actor: 'ops-7', correlationId: 'req-1' });
    for (const role of ['ops', 'sre', 'admin'] as const) {
      for (const key of [created.id, slug]) {
        const res = await request(app.getHttpServer())
          .get(`/v1/tenants/${key}`)
          .set('authorization', await api.auth([role]))
          .expect(200);
        expect(res.body).toEqual({
          id: created.id,
          slug,
          name: 'Read Corp',
          placement: 'instance',
          region: TEST_REGIONS[0],
          host: null,
          schemaVersion: null,
          tier: 'pro',
          status: 'PENDING',
          createdAt: expect.any(String),
          updatedAt: expect.any(String),
          database: null,
          provisioning: { steps: [], lastError: null },
          findings: [],
          change: null,
          firingAlarms: 0,
          restorable: null,
        });
      }
    }
    const events = await request(app.getHttpServer())
      .get(`/v1/tenants/${slug}/events`)
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    expect(events.body.items).toEqual([
      {
        at: expect.any(String),
        type: 'tenant.created',
        message: `tenant ${slug} created (pro)`,
        actor: 'ops-7',
        correlationId: 'req-1',
        data: { tier: 'pro', name: 'Read Corp', region: TEST_REGIONS[0] },
      },
    ]);
  });

  it.each(['no-such-tenant', '00000000-0000-4000-8000-000000000000', 'NOT a slug', '..%2F..%2Fetc'])(
    'answers 404 problem+json for %j',
    async (key) => {
      const res = await request(app.getHttpServer())
        .get(`/v1/tenants/${key}`)
        .set('authorization', await api.auth(['ops']))
        .expect(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 404, detail: 'No tenant has this id or slug.' });
    },
  );

  it('lists the configured tiers', async () => {
    const res = await request(app.getHttpServer())
      .get('/v1/tiers')
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    expect((res.body as { items: { tier: string }[] }).items.map((t) => t.tier)).toEqual([
      'starter',
      'pro',
      'enterprise',
    ]);
    expect(res.body.items[2]).toMatchObject({ instanceClass: 'db.m6i.large', multiAz: true });
  });

  it('answers 401 without a token', async () => {
    await request(app.getHttpServer()).get('/v1/tiers').expect(401);
  });
});
