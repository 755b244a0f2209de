import { TenantEntity } from '@silo/control-plane-db';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { TEST_REGIONS, testConfig, uniqueToken } from '../../../test/support/test-config';
import { startApi, type ApiHarness } from './api-harness';

const [HOME, SECOND] = TEST_REGIONS;

describe('a tenant’s region through the API', () => {
  let api: ApiHarness;
  let ds: DataSource;
  const http = () => request(api.app.getHttpServer());

  beforeAll(async () => {
    api = await startApi(testConfig({ RATE_LIMIT_MUTATIONS: '1000' }));
    ds = api.app.get(DataSource);
  });
  afterAll(() => api?.close());

  async function create(body: Record<string, unknown>) {
    return http()
      .post('/v1/tenants')
      .set('authorization', await api.auth(['ops']))
      .send(body);
  }

  it('onboards in the region asked for, and in the default region when none is', async () => {
    const far = await create({ slug: `far-${uniqueToken(3)}`, name: 'Far', tier: 'starter', region: SECOND });
    expect(far.status).toBe(202);
    expect(far.body).toMatchObject({ region: SECOND, status: 'PENDING' });
    const near = await create({ slug: `near-${uniqueToken(3)}`, name: 'Near', tier: 'starter' });
    expect(near.status).toBe(202);
    expect(near.body.region).toBe(HOME);
    const shown = await http()
      .get(`/v1/tenants/${far.body.slug}`)
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    expect(shown.body.region).toBe(SECOND);
    const events = await http()
      .get(`/v1/tenants/${far.body.slug}/events`)
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    expect(events.body.items[0].data).toMatchObject({ region: SECOND });
  });

  it('answers 422 problem+json naming the configured regions for one that is not, and makes nothing', async () => {
    const slug = `nope-${uniqueToken(3)}`;
    const res = await create({ slug, name: 'Nope', tier: 'starter', region: 'ap-south-1' });
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      status: 422,
      detail: `region "ap-south-1" is not one of the configured regions (${HOME}, ${SECOND})`,
      errors: [{ field: 'region', message: expect.stringContaining('ap-south-1') }],
      allowedRegions: [HOME, SECOND],
    });
    expect(await ds.getRepository(TenantEntity).countBy({ slug })).toBe(0);
    const malformed = await create({ slug, name: 'Nope', tier: 'starter', region: 'Frankfurt' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([
      { field: 'region', message: 'must be an AWS region such as eu-west-1' },
    ]);
  });

  it('a tenant made before regions existed (region NULL) shows the default region', async () => {
    const res = await create({ slug: `old-${uniqueToken(3)}`, name: 'Old', tier: 'starter' });
    await ds.getRepository(TenantEntity).update({ id: res.body.id }, { region: null });
    const shown = await http()
      .get(`/v1/tenants/${res.body.id}`)
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    expect(shown.body.region).toBe(HOME);
  });

  it('filters the list by region', async () => {
    const far = await create({
      slug: `lfar-${uniqueToken(3)}`,
      name: 'List Far',
      tier: 'pro',
      region: SECOND,
    });
    const page = await http()
      .get(`/v1/tenants?region=${SECOND}&limit=200`)
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    const items = page.body.items as Array<{ id: string; region: string }>;
    expect(items.map((t) => t.id)).toContain(far.body.id);
    expect(items.every((t) => t.region === SECOND)).toBe(true);
    const both = await http()
      .get(`/v1/tenants?region=${HOME},${SECOND}&limit=200`)
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    expect(new Set((both.body.items as Array<{ region: string }>).map((t) => t.region))).toEqual(
      new Set([HOME, SECOND]),
    );
    await http()
      .get('/v1/tenants?region=nowhere')
      .set('authorization', await api.auth(['sre']))
      .expect(400);
  });
});
