import request from 'supertest';
import { cspDirectives } from '../../../test/support/console-security';
import { testConfig } from '../../../test/support/test-config';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(60_000);

describe('security headers of the API', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi(testConfig());
  });
  afterAll(() => api?.close());

  const http = () => request(api.app.getHttpServer());

  it('answers JSON, problems included, with a policy that loads nothing, never framed, not sniffed, no referrer', async () => {
    for (const res of [
      await http()
        .get('/v1/tiers')
        .set('authorization', await api.auth(['sre']))
        .expect(200),
      await http().get('/v1/tiers').expect(401),
      await http().get('/no-such-path').expect(404),
    ]) {
      const csp = cspDirectives(res.headers['content-security-policy']);
      expect(csp['default-src']).toEqual(["'none'"]);
      expect(csp['frame-ancestors']).toEqual(["'none'"]);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('serves Swagger UI with its own scripts only', async () => {
    const res = await http().get('/docs/').expect(200);
    const csp = cspDirectives(res.headers['content-security-policy']);
    expect(csp['script-src']).toEqual(["'self'"]);
    expect(csp['frame-ancestors']).toEqual(["'none'"]);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});
