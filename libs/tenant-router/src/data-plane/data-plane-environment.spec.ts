import { DataPlaneConfigError, dataPlaneOptionsFromEnv } from './data-plane-environment';
import { DEFAULT_ROUTER_SETTINGS } from './router-environment';

const SECRET = 'a-data-plane-test-secret-of-32-chars-or-more';
const MINIMAL = {
  AWS_REGION: 'eu-west-1',
  TENANT_AUTH_AUDIENCE: 'silo-tenant',
  AUTH_JWKS_URL: 'https://idp.example/jwks',
  AUTH_ISSUER: 'https://idp.example/',
};

function problemsOf(env: Record<string, string>): { variable: string; message: string }[] {
  try {
    dataPlaneOptionsFromEnv(env);
  } catch (error) {
    if (error instanceof DataPlaneConfigError) return error.problems;
    throw error;
  }
  throw new Error('the environment was accepted');
}

describe('dataPlaneOptionsFromEnv', () => {
  it('needs only a region, an audience and a way to verify tokens; the rest has defaults', () => {
    const options = dataPlaneOptionsFromEnv(MINIMAL);
    expect(options).toMatchObject({
      resourcePrefix: 'silo',
      aws: { region: 'eu-west-1', endpoint: undefined, credentials: undefined },
      directory: { secretId: 'silo/control-plane/data-plane', tls: { mode: 'verify-full' } },
      tenantDatabaseTls: { mode: 'verify-full' },
      auth: {
        audience: 'silo-tenant',
        jwksUrl: 'https://idp.example/jwks',
        issuer: 'https://idp.example/',
        production: false,
      },
      limits: DEFAULT_ROUTER_SETTINGS,
      requestsPerSecondByTier: {},
      routeSignals: undefined,
    });
    expect(DEFAULT_ROUTER_SETTINGS.movePauseWaitMs).toBe(5000);
  });

  it('reads the move pause wait and, with ROUTER_ROUTE_SIGNALS_REDIS_URL, route signals on the prefix’s channel', () => {
    const options = dataPlaneOptionsFromEnv({
      ...MINIMAL,
      SILO_RESOURCE_PREFIX: 'acme',
      ROUTER_MOVE_PAUSE_WAIT_MS: '2500',
      ROUTER_ROUTE_SIGNALS_REDIS_URL: 'rediss://:token@cache.example:6379',
    });
    expect(options.limits?.movePauseWaitMs).toBe(2500);
    expect(options.routeSignals).toEqual({
      redis: 'rediss://:token@cache.example:6379',
      resourcePrefix: 'acme',
    });
    const problems = problemsOf({
      ...MINIMAL,
      ROUTER_MOVE_PAUSE_WAIT_MS: '-1',
      ROUTER_ROUTE_SIGNALS_REDIS_URL: 'http://:token@cache.example',
    });
    expect(problems.map((p) => p.variable).sort()).toEqual([
      'ROUTER_MOVE_PAUSE_WAIT_MS',
      'ROUTER_ROUTE_SIGNALS_REDIS_URL',
    ]);
    expect(JSON.stringify(problems)).not.toContain('token');
  });

  it('follows the prefix for the directory secret unless TENANT_DIRECTORY_SECRET names one', () => {
    expect(dataPlaneOptionsFromEnv({ ...MINIMAL, SILO_RESOURCE_PREFIX: 'acme' }).directory).toMatchObject({
      secretId: 'acme/control-plane/data-plane',
    });
    expect(
      dataPlaneOptionsFromEnv({
        ...MINIMAL,
        TENANT_DIRECTORY_SECRET: 'arn:aws:secretsmanager:eu-west-1:1:secret:x',
      }).directory,
    ).toMatchObject({ secretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:x' });
  });

  it('reads the ROUTER_* limits and request rates as the control plane documents them', () => {
    const options = dataPlaneOptionsFromEnv({
      ...MINIMAL,
      ROUTER_CONNECTION_BUDGET: '40',
      ROUTER_REQUESTS_PER_SECOND_PRO: '7',
    });
    expect(options.limits).toMatchObject({ connectionBudget: 40 });
    expect(options.requestsPerSecondByTier).toEqual({ pro: 7 });
  });

  it('names every bad variable at once, never echoing a value', () => {
    const problems = problemsOf({
      TENANT_DB_SSL: 'sometimes',
      ROUTER_CONNECTION_BUDGET: '3',
      AUTH_JWT_SECRET: 'short',
    });
    expect(problems.map((p) => p.variable).sort()).toEqual(
      ['AUTH_JWT_SECRET', 'AWS_REGION', 'TENANT_AUTH_AUDIENCE', 'TENANT_DB_SSL'].sort(),
    );
    expect(JSON.stringify(problems)).not.toContain('short');
  });

  it('checks the limits together and the ways of verifying tokens', () => {
    expect(problemsOf({ ...MINIMAL, ROUTER_CONNECTION_BUDGET: '3' })).toEqual([
      {
        variable: 'ROUTER_CONNECTION_BUDGET',
        message: expect.stringContaining('at least the largest ROUTER_POOL_SIZE_* (10)'),
      },
    ]);
    const { AUTH_JWKS_URL: _jwks, AUTH_ISSUER: _issuer, ...withoutKey } = MINIMAL;
    expect(problemsOf(withoutKey).map((p) => p.variable)).toEqual(['AUTH_JWKS_URL']);
    expect(
      problemsOf({ ...withoutKey, AUTH_JWT_SECRET: SECRET, NODE_ENV: 'production' }).map((p) => p.variable),
    ).toEqual(['AUTH_JWT_SECRET']);
    expect(problemsOf({ ...MINIMAL, AUTH_AUDIENCE: 'silo-tenant' }).map((p) => p.variable)).toEqual([
      'TENANT_AUTH_AUDIENCE',
    ]);
  });

  it('takes an empty value as unset, as a .env file line NAME= means', () => {
    expect(
      dataPlaneOptionsFromEnv({ ...MINIMAL, AWS_ENDPOINT_URL: '', ROUTER_POOL_SIZE_PER_HOST: '' }).aws
        ?.endpoint,
    ).toBeUndefined();
  });
});
