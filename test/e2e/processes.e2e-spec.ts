import { freePort } from '../support/free-port';
import { builtEntry, httpStatus, SiloProcess } from '../support/silo-process';
import { testEnvironment, uniqueToken } from '../support/test-config';

jest.setTimeout(60_000);

const API = 'apps/control-plane-api/src/main.js';
const WORKER = 'apps/provisioning-worker/src/main.js';

describe('control-plane API process', () => {
  let api: SiloProcess | undefined;
  afterEach(() => api?.kill());

  it('becomes ready, logs each request with its request id, keeps credentials out of its output and stops on SIGTERM', async () => {
    const port = await freePort();
    const secretKey = `never-log-me-${uniqueToken(8)}`;
    api = SiloProcess.node(
      builtEntry(API),
      // debug: probe requests are logged at debug level.
      testEnvironment({ PORT: String(port), LOG_LEVEL: 'debug', AWS_SECRET_ACCESS_KEY: secretKey }),
    );
    const base = `http://127.0.0.1:${port}`;
    await api.waitFor(async () => (await httpStatus(`${base}/readyz`)) === 200, '/readyz to answer 200');

    const requestId = `e2e-${uniqueToken()}`;
    const res = await fetch(`${base}/healthz`, {
      headers: { 'x-request-id': requestId, authorization: `Bearer ${secretKey}` },
    });
    expect(res.headers.get('x-request-id')).toBe(requestId);
    await api.waitFor(
      () => api!.logLines().some((l) => (l.req as { id?: string } | undefined)?.id === requestId),
      'a log line carrying the request id',
    );
    const line = api.logLines().find((l) => (l.req as { id?: string } | undefined)?.id === requestId)!;
    expect(line).toMatchObject({
      app: 'silo-api',
      level: 'debug',
      msg: 'request completed',
      res: { statusCode: 200 },
    });

    api.child.kill('SIGTERM');
    expect(await api.exitWithin(15_000)).toEqual({ code: 0, signal: null });
    expect(api.stdout + api.stderr).not.toContain(secretKey);
  });

  it('exits 1 at once naming every bad variable', async () => {
    api = SiloProcess.node(builtEntry(API), testEnvironment({ REDIS_URL: 'nonsense', PORT: 'http' }));
    expect(await api.exitWithin(15_000)).toEqual({ code: 1, signal: null });
    expect(api.stderr).toContain('control-plane-api: Invalid configuration (2 problems)');
    expect(api.stderr).toMatch(/- PORT: /);
    expect(api.stderr).toContain('- REDIS_URL: must be a URL starting with redis:// or rediss://');
  });
});

describe('control-plane API process without a way to verify tokens', () => {
  it('refuses to start, saying what to set', async () => {
    const api = SiloProcess.node(builtEntry(API), testEnvironment({ AUTH_JWT_SECRET: '' }));
    try {
      expect(await api.exitWithin(15_000)).toEqual({ code: 1, signal: null });
      expect(api.stderr).toContain(
        'the API needs AUTH_JWT_SECRET (development) or AUTH_JWKS_URL (production)',
      );
    } finally {
      api.kill();
    }
  });
});

describe('processes refusing a configuration that would let anybody mint tokens', () => {
  const EXAMPLE_APP = 'apps/example-tenant-app/src/main.js';
  it.each([
    [
      'the API under NODE_ENV=production with a development secret',
      API,
      { NODE_ENV: 'production' },
      '- AUTH_JWT_SECRET: is for development only and refused with NODE_ENV=production',
    ],
    [
      'the API under NODE_ENV=production without a JWKS',
      API,
      { NODE_ENV: 'production', AUTH_JWT_SECRET: '' },
      'the API needs AUTH_JWKS_URL with NODE_ENV=production',
    ],
    [
      'the worker with the published example secret',
      WORKER,
      { AUTH_JWT_SECRET: 'local-development-only-secret-change-me' },
      '- AUTH_JWT_SECRET: is the published example secret',
    ],
    [
      'the API with a JWKS over plain http to another host',
      API,
      { AUTH_JWT_SECRET: '', AUTH_JWKS_URL: 'http://idp.example.com/jwks.json' },
      '- AUTH_JWKS_URL: must be an https:// URL',
    ],
    [
      'the example app without its own audience',
      EXAMPLE_APP,
      { TENANT_AUTH_AUDIENCE: '' },
      'TENANT_AUTH_AUDIENCE is required',
    ],
    [
      'the example app under NODE_ENV=production with a development secret',
      EXAMPLE_APP,
      { NODE_ENV: 'production' },
      'AUTH_JWT_SECRET is for development only and refused with NODE_ENV=production',
    ],
  ])('%s exits 1 naming the variable', async (_what, entry, overrides, message) => {
    const p = SiloProcess.node(builtEntry(entry), testEnvironment(overrides));
    try {
      expect(await p.exitWithin(15_000)).toEqual({ code: 1, signal: null });
      expect(p.stderr).toContain(message);
    } finally {
      p.kill();
    }
  });
});

describe('provisioning worker process', () => {
  let worker: SiloProcess | undefined;
  afterEach(() => worker?.kill());

  it('logs "worker ready" and stops on SIGTERM', async () => {
    worker = SiloProcess.node(builtEntry(WORKER), testEnvironment({ LOG_LEVEL: 'info' }));
    await worker.waitFor(() => worker!.logLines().some((l) => l.msg === 'worker ready'), '"worker ready"');
    expect(worker.logLines().find((l) => l.msg === 'worker ready')).toMatchObject({
      app: 'silo-worker',
      level: 'info',
      checks: { postgres: 'up', redis: 'up' },
    });
    worker.child.kill('SIGTERM');
    expect(await worker.exitWithin(15_000)).toEqual({ code: 0, signal: null });
  });

  it('exits 1 naming REDIS_URL when it is not a Redis URL', async () => {
    worker = SiloProcess.node(builtEntry(WORKER), testEnvironment({ REDIS_URL: 'nonsense' }));
    expect(await worker.exitWithin(15_000)).toEqual({ code: 1, signal: null });
    expect(worker.stderr).toContain('REDIS_URL: must be a URL starting with redis:// or rediss://');
  });
});
