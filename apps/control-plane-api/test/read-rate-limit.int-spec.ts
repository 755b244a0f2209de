import type { OpenAPIObject, ResponseObject } from '@nestjs/swagger';
import request from 'supertest';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(60_000);

describe('read rate limit', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi(
      testConfig({ RATE_LIMIT_READS: '5', RATE_LIMIT_MUTATIONS: '100', RATE_LIMIT_WINDOW_SECONDS: '60' }),
    );
  });
  afterAll(() => api?.close());

  const http = () => request(api.app.getHttpServer());

  it('answers 429 problem+json with Retry-After past one caller’s budget of reads; another caller is still served', async () => {
    const aliceSub = `alice-${uniqueToken()}`;
    const alice = await api.auth(['sre'], aliceSub);
    const paths = [
      '/v1/tiers',
      '/v1/tenants?limit=1',
      '/v1/alarms',
      '/v1/reconciliation',
      '/v1/schema-rollouts',
    ];
    for (const [i, path] of paths.entries()) {
      const res = await http().get(path).set('authorization', alice).expect(200);
      expect(res.headers['ratelimit-limit']).toBe('5');
      expect(res.headers['ratelimit-remaining']).toBe(String(4 - i));
    }
    const limited = await http().get('/v1/tiers').set('authorization', alice).expect(429);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(limited.body).toMatchObject({ status: 429, detail: expect.stringMatching(/Too many reads/) });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    await http().get('/v1/tenants/no-such-tenant').set('authorization', alice).expect(429);

    await http()
      .get('/v1/tiers')
      .set('authorization', await api.auth(['sre'], `sre-${uniqueToken()}`))
      .expect(200);
    // Changes have their own budget: a caller out of reads may still change things.
    await http()
      .post('/v1/tenants')
      .set('authorization', await api.auth(['ops'], aliceSub))
      .send({ slug: `rr-${uniqueToken(3)}`, name: 'R', tier: 'starter' })
      .expect(202);
  });

  it('counts every GET route of /v1, and documents its 429', async () => {
    const doc = (await http().get('/docs-json').expect(200)).body as OpenAPIObject;
    const gets = Object.entries(doc.paths)
      .filter(([path, item]) => path.startsWith('/v1/') && item.get)
      .map(([path, item]) => [path, item.get!.responses[429] as ResponseObject | undefined] as const);
    expect(gets.length).toBeGreaterThan(10);
    for (const [path, limited] of gets) {
      expect([path, limited?.description]).toEqual([path, 'Too many reads from this caller; retry later.']);
      expect(limited?.headers).toHaveProperty('Retry-After');
    }
  });
});
