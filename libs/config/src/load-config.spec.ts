import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { environmentSchema } from './config.schema';
import { ConfigError, loadConfig } from './load-config';

const REQUIRED = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/silo',
  REDIS_URL: 'redis://127.0.0.1:6379',
  AWS_REGION: 'eu-west-1',
};
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:silo-alarms';
/** What real AWS needs besides: the topic alarms notify. */
const REAL_AWS = { ...REQUIRED, ALARM_SNS_TOPIC_ARN: TOPIC };

function problemsOf(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig({ env, envFile: false });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('builds a typed configuration with defaults from the required variables alone', () => {
    const config = loadConfig({ env: REAL_AWS, envFile: false });
    expect(config.http).toEqual({
      host: '127.0.0.1',
      port: 3000,
      metricsPort: undefined,
      keepAliveTimeoutMs: 65_000,
      headersTimeoutMs: 66_000,
      bodyLimitBytes: 16_384,
      rateLimit: { points: 60, readPoints: 1200, windowSeconds: 60 },
      idempotencyKeyTtlMs: 24 * 3_600_000,
    });
    expect(config.database).toEqual({ url: REAL_AWS.DATABASE_URL, poolMax: 10, connectTimeoutMs: 5000 });
    expect(config.aws).toEqual({
      region: 'eu-west-1',
      endpoint: undefined,
      emulator: false,
      credentials: undefined,
      maxAttempts: 3,
      retryMode: 'standard',
    });
    expect(config.resources).toEqual({ prefix: 'silo', environment: 'local' });
  });

  it('fills in the passwords of DATABASE_URL and REDIS_URL from their own variables, encoded', () => {
    const config = loadConfig({
      env: {
        ...REAL_AWS,
        DATABASE_URL: 'postgresql://silo_admin@db.example.com:5432/silo?sslmode=verify-full',
        DATABASE_PASSWORD: 'p@ss:w/rd%?#',
        REDIS_URL: 'rediss://cache.example.com:6379',
        REDIS_PASSWORD: 'token with spaces',
      },
      envFile: false,
    });
    const database = new URL(config.database.url);
    expect(database.username).toBe('silo_admin');
    expect(decodeURIComponent(database.password)).toBe('p@ss:w/rd%?#');
    expect(database.host).toBe('db.example.com:5432');
    expect(database.search).toBe('?sslmode=verify-full');
    const redis = new URL(config.redis.url);
    expect(redis.username).toBe('');
    expect(decodeURIComponent(redis.password)).toBe('token with spaces');
    expect(redis.host).toBe('cache.example.com:6379');
  });

  it('refuses a password given twice, in the URL and in its own variable, without echoing either', () => {
    const error = problemsOf({
      ...REAL_AWS,
      DATABASE_URL: 'postgres://silo:in-the-url@127.0.0.1:5432/silo',
      DATABASE_PASSWORD: 'separate-secret',
      REDIS_URL: 'redis://:url-token@127.0.0.1:6379',
      REDIS_PASSWORD: 'separate-token',
    });
    expect(error.problems.map((p) => p.variable)).toEqual(['DATABASE_PASSWORD', 'REDIS_PASSWORD']);
    expect(error.message).toContain('DATABASE_URL already carries a password');
    expect(error.message).toContain('REDIS_URL already carries a password');
    for (const secret of ['in-the-url', 'separate-secret', 'url-token', 'separate-token']) {
      expect(error.message).not.toContain(secret);
    }
  });

  it('takes ROUTER_POOL_SIZE_PER_HOST for a pool host’s DataSource: unset by default, 1-100, within the connection budget', () => {
    expect(loadConfig({ env: REAL_AWS, envFile: false }).router.poolSizePerHost).toBeUndefined();
    const set = loadConfig({ env: { ...REAL_AWS, ROUTER_POOL_SIZE_PER_HOST: '25' }, envFile: false });
    expect(set.router.poolSizePerHost).toBe(25);

    for (const value of ['0', '101', '2.5', 'ten']) {
      const problems = problemsOf({ ...REAL_AWS, ROUTER_POOL_SIZE_PER_HOST: value }).problems;
      expect([...new Set(problems.map((p) => p.variable))]).toEqual(['ROUTER_POOL_SIZE_PER_HOST']);
    }
    expect(
      problemsOf({ ...REAL_AWS, ROUTER_CONNECTION_BUDGET: '20', ROUTER_POOL_SIZE_PER_HOST: '21' }).problems,
    ).toEqual([
      {
        variable: 'ROUTER_POOL_SIZE_PER_HOST',
        message:
          "must not exceed ROUTER_CONNECTION_BUDGET (20), or a pool host's tenants could never connect",
      },
    ]);
    // Unset, it asks nothing of a small budget: the router takes the budget when it is below 10.
    const small = {
      ROUTER_CONNECTION_BUDGET: '4',
      ROUTER_POOL_SIZE_PRO: '4',
      ROUTER_POOL_SIZE_ENTERPRISE: '4',
    };
    expect(loadConfig({ env: { ...REAL_AWS, ...small }, envFile: false }).router.connectionBudget).toBe(4);
  });

  it('names every bad variable in one error', () => {
    const error = problemsOf({ REDIS_URL: 'nonsense', PORT: '70000', AWS_REGION: 'mars', LOG_LEVEL: 'loud' });
    expect(error.problems.map((p) => p.variable)).toEqual([
      'AWS_REGION',
      'DATABASE_URL',
      'LOG_LEVEL',
      'PORT',
      'REDIS_URL',
    ]);
    expect(error.message).toMatch(/^Invalid configuration \(5 problems\)/);
    expect(error.message).toContain('DATABASE_URL: is required but not set');
    expect(error.message).toContain('REDIS_URL: must be a URL starting with redis:// or rediss://');
  });

  it('never echoes a value, since some are secrets', () => {
    const error = problemsOf({
      ...REAL_AWS,
      DATABASE_URL: 'mysql://admin:hunter2-very-secret@db/silo',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY',
    });
    expect(error.message).not.toContain('hunter2-very-secret');
    expect(error.message).not.toContain('AKIAEXAMPLEKEY');
    expect(error.problems.map((p) => p.variable)).toEqual(['AWS_SECRET_ACCESS_KEY', 'DATABASE_URL']);
  });

  it('takes AWS keys only as a pair', () => {
    expect(problemsOf({ ...REAL_AWS, AWS_SECRET_ACCESS_KEY: 'x' }).problems).toEqual([
      { variable: 'AWS_ACCESS_KEY_ID', message: expect.stringContaining('together') },
    ]);
    const config = loadConfig({
      env: { ...REAL_AWS, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' },
      envFile: false,
    });
    expect(config.aws.credentials).toEqual({ accessKeyId: 'a', secretAccessKey: 'b' });
  });

  it('treats an empty variable as unset', () => {
    expect(problemsOf({ ...REAL_AWS, REDIS_URL: '' }).problems).toEqual([
      { variable: 'REDIS_URL', message: 'is required but not set' },
    ]);
    expect(loadConfig({ env: { ...REAL_AWS, PORT: '' }, envFile: false }).http.port).toBe(3000);
  });

  it('keeps idempotency keys for at least the 24 h the contract promises', () => {
    const [problem] = problemsOf({ ...REAL_AWS, IDEMPOTENCY_KEY_TTL_HOURS: '12' }).problems;
    expect(problem.variable).toBe('IDEMPOTENCY_KEY_TTL_HOURS');
    expect(problem.message).toContain('at least 24');
  });

  it('takes the shared hosts’ grace period in hours and sweep interval in seconds, 24 h and 15 min by default', () => {
    expect(loadConfig({ env: REAL_AWS, envFile: false }).worker.hosts).toEqual({
      emptyGraceMs: 24 * 3_600_000,
      sweepIntervalMs: 15 * 60_000,
    });
    const set = loadConfig({
      env: { ...REAL_AWS, HOST_EMPTY_GRACE_HOURS: '0', HOST_SWEEP_INTERVAL_SECONDS: '60' },
      envFile: false,
    });
    expect(set.worker.hosts).toEqual({ emptyGraceMs: 0, sweepIntervalMs: 60_000 });
  });

  it.each([
    ['HOST_EMPTY_GRACE_HOURS', '-1', 'must be a whole number of hours from 0 to 8760 (a year)'],
    ['HOST_EMPTY_GRACE_HOURS', '1.5', 'must be a whole number of hours from 0 to 8760 (a year)'],
    ['HOST_EMPTY_GRACE_HOURS', 'a day', 'must be a whole number of hours from 0 to 8760 (a year)'],
    ['HOST_EMPTY_GRACE_HOURS', '8761', 'must be a whole number of hours from 0 to 8760 (a year)'],
    ['HOST_SWEEP_INTERVAL_SECONDS', '59', 'must be a whole number of seconds from 60 to 86400 (a day)'],
    ['HOST_SWEEP_INTERVAL_SECONDS', '86401', 'must be a whole number of seconds from 60 to 86400 (a day)'],
    ['HOST_SWEEP_INTERVAL_SECONDS', '15m', 'must be a whole number of seconds from 60 to 86400 (a day)'],
  ])('refuses %s=%s, naming the variable and its bounds', (variable, value, message) => {
    expect(problemsOf({ ...REAL_AWS, [variable]: value }).problems).toEqual([{ variable, message }]);
  });

  it('rejects a resource prefix that would make invalid AWS names', () => {
    for (const prefix of ['Silo', 'silo--x', '-silo', 'silo-', 'a', 'x'.repeat(17)]) {
      expect(problemsOf({ ...REAL_AWS, SILO_RESOURCE_PREFIX: prefix }).problems[0].variable).toBe(
        'SILO_RESOURCE_PREFIX',
      );
    }
    expect(
      loadConfig({ env: { ...REAL_AWS, SILO_RESOURCE_PREFIX: 'silo-stg' }, envFile: false }).resources.prefix,
    ).toBe('silo-stg');
  });

  it('reads a dotenv file beneath the environment, the environment winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silo-config-'));
    const file = join(dir, '.env');
    writeFileSync(
      file,
      `DATABASE_URL=${REQUIRED.DATABASE_URL}\nREDIS_URL=redis://from-file:6379\nAWS_REGION=us-east-2\nPORT=4000\nALARM_SNS_TOPIC_ARN=${TOPIC.replace('eu-west-1', 'us-east-2')}\n`,
    );
    const config = loadConfig({ env: { REDIS_URL: 'redis://from-env:6379' }, envFile: file });
    expect(config.redis.url).toBe('redis://from-env:6379');
    expect(config.aws.region).toBe('us-east-2');
    expect(config.http.port).toBe(4000);
  });

  it('fails naming SILO_ENV_FILE when the file it names does not exist', () => {
    expect(() => loadConfig({ env: { ...REAL_AWS, SILO_ENV_FILE: '/nonexistent/silo.env' } })).toThrow(
      /SILO_ENV_FILE: file \/nonexistent\/silo.env does not exist/,
    );
  });

  it('refuses real AWS without an alarm topic unless ALARM_ACTIONS=none says so', () => {
    expect(problemsOf(REQUIRED).problems).toEqual([
      {
        variable: 'ALARM_SNS_TOPIC_ARN',
        message: expect.stringContaining('is required against real AWS (AWS_EMULATOR unset)'),
      },
    ]);
    expect(
      loadConfig({ env: { ...REQUIRED, ALARM_ACTIONS: 'none' }, envFile: false }).tenants.alarmActions,
    ).toBe('none');
    expect(
      loadConfig({
        env: { ...REQUIRED, AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_EMULATOR: 'true' },
        envFile: false,
      }).tenants,
    ).toMatchObject({
      alarmActions: 'sns',
      alarmTopicArn: undefined,
    });
    expect(problemsOf({ ...REAL_AWS, ALARM_ACTIONS: 'none' }).problems).toEqual([
      { variable: 'ALARM_ACTIONS', message: 'is none, but ALARM_SNS_TOPIC_ARN is set: unset one of them' },
    ]);
  });

  it('takes a console OpenID Connect client only with the issuer as a URL', () => {
    expect(problemsOf({ ...REAL_AWS, CONSOLE_OIDC_CLIENT_ID: 'silo-console' }).problems).toEqual([
      { variable: 'AUTH_ISSUER', message: expect.stringContaining('/.well-known/openid-configuration') },
    ]);
    expect(
      problemsOf({
        ...REAL_AWS,
        CONSOLE_OIDC_CLIENT_ID: 'silo-console',
        AUTH_ISSUER: 'https://idp.example.com/realms/ops',
        CONSOLE_OIDC_RESOURCE: 'api #1',
      }).problems,
    ).toEqual([{ variable: 'CONSOLE_OIDC_RESOURCE', message: expect.stringContaining('RFC 8707') }]);
    const config = loadConfig({
      env: {
        ...REAL_AWS,
        CONSOLE_OIDC_CLIENT_ID: 'silo-console',
        AUTH_ISSUER: 'https://idp.example.com/realms/ops',
        CONSOLE_OIDC_RESOURCE: 'urn:silo:api',
      },
      envFile: false,
    });
    expect(config.console.oidc).toEqual({
      authority: 'https://idp.example.com/realms/ops',
      clientId: 'silo-console',
      scope: 'openid profile',
      resource: 'urn:silo:api',
    });
    expect(loadConfig({ env: REAL_AWS, envFile: false }).console.oidc).toBeUndefined();
  });

  describe('authentication', () => {
    const JWKS = { AUTH_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json' };
    const CLAIMS = { AUTH_ISSUER: 'https://idp.example.com/', AUTH_AUDIENCE: 'urn:silo:control-plane' };
    const SECRET = { AUTH_JWT_SECRET: 'a-local-secret-that-is-long-enough-for-hs256' };

    it('refuses the published example secret everywhere, naming AUTH_JWT_SECRET', () => {
      for (const NODE_ENV of ['development', 'test']) {
        expect(
          problemsOf({ ...REAL_AWS, NODE_ENV, AUTH_JWT_SECRET: 'local-development-only-secret-change-me' })
            .problems,
        ).toEqual([
          { variable: 'AUTH_JWT_SECRET', message: expect.stringContaining('published example secret') },
        ]);
      }
    });

    it('refuses a development secret with NODE_ENV=production', () => {
      expect(problemsOf({ ...REAL_AWS, NODE_ENV: 'production', ...SECRET }).problems).toEqual([
        { variable: 'AUTH_JWT_SECRET', message: expect.stringContaining('refused with NODE_ENV=production') },
      ]);
      // The worker and the migration verify no tokens: the API and tenant apps refuse to start
      // without a JWKS (jwtVerifierFromSettings), not the configuration.
      expect(
        loadConfig({ env: { ...REAL_AWS, NODE_ENV: 'production' }, envFile: false }).auth.production,
      ).toBe(true);
      expect(
        loadConfig({ env: { ...REAL_AWS, NODE_ENV: 'production', ...JWKS, ...CLAIMS }, envFile: false }).auth,
      ).toEqual({
        jwtSecret: undefined,
        jwksUrl: JWKS.AUTH_JWKS_URL,
        issuer: CLAIMS.AUTH_ISSUER,
        audience: CLAIMS.AUTH_AUDIENCE,
        tenantAudience: undefined,
        production: true,
      });
    });

    it('needs AUTH_ISSUER and AUTH_AUDIENCE with a JWKS URL', () => {
      expect(problemsOf({ ...REAL_AWS, ...JWKS }).problems).toEqual([
        { variable: 'AUTH_AUDIENCE', message: expect.stringContaining('is required with AUTH_JWKS_URL') },
        { variable: 'AUTH_ISSUER', message: expect.stringContaining('is required with AUTH_JWKS_URL') },
      ]);
    });

    it('takes a JWKS URL over https, or over http on a loopback address only', () => {
      expect(
        problemsOf({ ...REAL_AWS, ...CLAIMS, AUTH_JWKS_URL: 'http://idp.example.com/jwks' }).problems,
      ).toEqual([{ variable: 'AUTH_JWKS_URL', message: expect.stringContaining('must be an https:// URL') }]);
      expect(problemsOf({ ...REAL_AWS, ...CLAIMS, AUTH_JWKS_URL: 'http://10.0.0.8/jwks' }).problems).toEqual([
        { variable: 'AUTH_JWKS_URL', message: expect.stringContaining('must be an https:// URL') },
      ]);
      for (const url of [
        'http://127.0.0.1:8080/jwks',
        'http://localhost:8080/jwks',
        'http://[::1]:8080/jwks',
      ]) {
        expect(
          loadConfig({ env: { ...REAL_AWS, ...CLAIMS, AUTH_JWKS_URL: url }, envFile: false }).auth.jwksUrl,
        ).toBe(url);
      }
    });

    it("keeps the data plane's audience apart from the control plane's", () => {
      expect(
        problemsOf({ ...REAL_AWS, ...SECRET, AUTH_AUDIENCE: 'silo', TENANT_AUTH_AUDIENCE: 'silo' }).problems,
      ).toEqual([
        {
          variable: 'TENANT_AUTH_AUDIENCE',
          message: expect.stringContaining('must differ from AUTH_AUDIENCE'),
        },
      ]);
      expect(
        loadConfig({
          env: { ...REAL_AWS, ...SECRET, AUTH_AUDIENCE: 'silo-api', TENANT_AUTH_AUDIENCE: 'silo-tenant' },
          envFile: false,
        }).auth,
      ).toMatchObject({ audience: 'silo-api', tenantAudience: 'silo-tenant' });
    });
  });
});

describe('.env.example', () => {
  const text = readFileSync(resolve(__dirname, '../../../.env.example'), 'utf8');
  const documented = new Map<string, string>();
  let comment = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) comment = line;
    const match = /^([A-Z][A-Z0-9_]*)=/.exec(line);
    if (match) documented.set(match[1], comment);
  }

  it('lists exactly the variables the schema reads', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(environmentSchema.shape).sort());
  });

  it('states each default as the schema applies it', () => {
    // The object alone, without the rules across variables: each default as it is applied.
    const defaults = z.object(environmentSchema.shape).parse(REQUIRED) as Record<
      string,
      string | number | boolean | undefined
    >;
    for (const [variable, doc] of documented) {
      if (variable in REQUIRED) {
        expect({ variable, doc: /Required\.$/.test(doc) }).toEqual({ variable, doc: true });
        continue;
      }
      const stated = /Default: (.*)$/.exec(doc)?.[1];
      const actual = defaults[variable] === undefined ? '(unset)' : String(defaults[variable]);
      expect({ variable, stated }).toEqual({ variable, stated: actual });
    }
  });
});

describe('AWS_EMULATOR, not the endpoint, says Silo talks to an emulator', () => {
  // A VPC endpoint (or a regional one) is still AWS: alarms must reach someone there.
  const VPC_ENDPOINTS = [
    'https://rds.eu-west-1.amazonaws.com',
    'https://vpce-0123456789abcdef0-abcdefgh.rds.eu-west-1.vpce.amazonaws.com',
  ];

  it.each(VPC_ENDPOINTS)(
    'refuses AWS_ENDPOINT_URL=%s without AWS_EMULATOR and without ALARM_SNS_TOPIC_ARN, naming ALARM_SNS_TOPIC_ARN',
    (endpoint) => {
      expect(problemsOf({ ...REQUIRED, AWS_ENDPOINT_URL: endpoint }).problems).toEqual([
        { variable: 'ALARM_SNS_TOPIC_ARN', message: expect.stringContaining('is required against real AWS') },
      ]);
      expect(
        loadConfig({ env: { ...REAL_AWS, AWS_ENDPOINT_URL: endpoint }, envFile: false }).tenants
          .alarmTopicArn,
      ).toBe(TOPIC);
    },
  );

  it('accepts an endpoint without an alarm topic when AWS_EMULATOR=true says it is an emulator', () => {
    const config = loadConfig({
      env: { ...REQUIRED, AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_EMULATOR: 'true' },
      envFile: false,
    });
    expect(config.tenants).toMatchObject({ alarmActions: 'sns', alarmTopicArn: undefined });
  });

  it('refuses AWS_EMULATOR=true without AWS_ENDPOINT_URL, naming AWS_ENDPOINT_URL', () => {
    expect(problemsOf({ ...REAL_AWS, AWS_EMULATOR: 'true' }).problems).toEqual([
      {
        variable: 'AWS_ENDPOINT_URL',
        message: "is required with AWS_EMULATOR=true: the emulator's endpoint",
      },
    ]);
  });
});
