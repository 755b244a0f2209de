import type { OpenAPIObject } from '@nestjs/swagger';
import request from 'supertest';
import { freePort } from '../../../test/support/free-port';
import { testConfig } from '../../../test/support/test-config';
import { MetricsListener } from '../src/metrics/metrics-listener';
import { startApi, type ApiHarness } from './api-harness';

describe('who may scrape /metrics', () => {
  describe('without METRICS_PORT', () => {
    let api: ApiHarness;
    const http = () => request(api.app.getHttpServer());

    beforeAll(async () => {
      api = await startApi(testConfig());
    });
    afterAll(() => api?.close());

    it('answers 401 without a token and 403 to a token without sre or admin', async () => {
      const anonymous = await http().get('/metrics').expect(401);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(anonymous.text).not.toContain('silo_');
      const ops = await http()
        .get('/metrics')
        .set('authorization', await api.auth(['ops']))
        .expect(403);
      expect(ops.text).not.toContain('silo_');
    });

    it('answers the metrics to an sre or an admin token', async () => {
      for (const role of ['sre', 'admin'] as const) {
        const res = await http()
          .get('/metrics')
          .set('authorization', await api.auth([role]))
          .expect(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain/);
        expect(res.text).toContain('# TYPE silo_tenants gauge');
      }
    });

    it('documents /metrics for the sre and admin roles', async () => {
      const doc = (await http().get('/docs-json').expect(200)).body as OpenAPIObject;
      const op = doc.paths['/metrics']?.get;
      expect(op?.security).toEqual([{ bearer: [] }]);
      expect((op as { 'x-roles'?: string[] } | undefined)?.['x-roles']).toEqual(['sre', 'admin']);
    });
  });

  describe('with METRICS_PORT', () => {
    let api: ApiHarness;
    let metricsPort: number;
    const http = () => request(api.app.getHttpServer());
    const metrics = () => request(`http://127.0.0.1:${metricsPort}`);

    beforeAll(async () => {
      metricsPort = await freePort();
      api = await startApi(testConfig({ METRICS_PORT: String(metricsPort) }));
    });
    afterAll(() => api?.close());

    it('serves the metrics on that port to a caller without a token', async () => {
      const res = await metrics().get('/metrics').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; /);
      expect(res.headers['content-type']).toContain('version=0.0.4');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.text).toContain('# TYPE silo_tenants gauge');
      expect(res.text).toContain('# TYPE process_cpu_user_seconds_total counter');
    });

    it('serves nothing else on that port', async () => {
      for (const path of ['/readyz', '/healthz', '/v1/tenants', '/docs-json', '/metrics/x']) {
        const res = await metrics().get(path).expect(404);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.text).not.toContain('silo_');
      }
      await metrics().post('/metrics').send({}).expect(405);
    });

    it('answers 404 for /metrics on the API port, token or not, and leaves it out of the document', async () => {
      await http().get('/metrics').expect(404);
      const admin = await http()
        .get('/metrics')
        .set('authorization', await api.auth(['admin']))
        .expect(404);
      expect(admin.text).not.toContain('silo_');
      const doc = (await http().get('/docs-json').expect(200)).body as OpenAPIObject;
      expect(doc.paths).not.toHaveProperty('/metrics');
    });

    it('gives the metrics listener the configured keep-alive and headers timeouts', () => {
      const server = api.app.get(MetricsListener).httpServer();
      expect(server?.keepAliveTimeout).toBe(api.config.http.keepAliveTimeoutMs);
      expect(server?.headersTimeout).toBe(api.config.http.headersTimeoutMs);
    });

    it('stops listening when the API closes', async () => {
      const own = await startApi(testConfig({ METRICS_PORT: String(await freePort()) }));
      const port = own.app.get(MetricsListener).port();
      await request(`http://127.0.0.1:${port}`).get('/metrics').expect(200);
      await own.close();
      await expect(request(`http://127.0.0.1:${port}`).get('/metrics')).rejects.toThrow(/ECONNREFUSED/);
    });
  });
});
