import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { SiloImage } from '../support/image-process';
import { removeTenantInstance } from '../support/local-tenant-instance';
import { running, SiloStack, type Caller, type TenantBody } from '../support/silo-stack';
import { dropDatabase } from '../support/test-databases';
import { fastLocalSagaEnvironment, uniqueToken } from '../support/test-config';
import { TestJwks } from '../support/test-jwks';
import { databaseUrl, testServices } from '../support/test-services';

// The image's own entry points, run by `npm run image:check` from the built image's root
// filesystem (chroot, host network) against this machine's PostgreSQL, Redis and the emulator.
jest.setTimeout(180_000);

const image = SiloImage.fromEnvironment();
const PREFIX = `im${uniqueToken(3)}`;
const OPS: Caller = { roles: ['ops'], sub: `ops-${uniqueToken(3)}` };
const database = `silo_image_${uniqueToken(4)}`;
const url = databaseUrl(testServices.postgresAdminUrl, database);

/**
 * The test environment, minus NODE_ENV (the image's own, production, is what ships) and the test
 * tier profiles file (not in the image: it runs with its built-in profiles).
 */
function imageEnvironment(env: Record<string, string>): Record<string, string> {
  const { NODE_ENV: _ignored, SILO_TIER_PROFILES_FILE: _profiles, ...rest } = env;
  return rest;
}

/** uid of a running process, from /proc. */
function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

describe('the built image, run from its root filesystem', () => {
  let stack: SiloStack | undefined;
  let idp: TestJwks | undefined;
  const slug = `img-${uniqueToken(3)}`;

  afterAll(async () => {
    await stack?.stop();
    await idp?.stop();
    await removeTenantInstance(PREFIX, slug);
    await dropDatabase(database);
  });

  it('runs as a user that is not root', () => {
    expect(image.user).not.toBe('root');
    expect(image.userIds().uid).not.toBe(0);
  });

  it("carries pg_dump, with which the worker exports a schema tenant's schema before dropping it", async () => {
    const dump = image.run({}, ['pg_dump', '--version']);
    const { code } = await dump.exitWithin(30_000);
    expect({ code, stderr: dump.stderr }).toEqual({ code: 0, stderr: '' });
    // 17 as shipped; 15 (Debian's) where the build could not reach the PostgreSQL project's repository.
    expect(dump.stdout).toMatch(/^pg_dump \(PostgreSQL\) (17|15)\./);
  });

  it('migrates a new control-plane database with its migrate entry point, as a one-off task would', async () => {
    const migrate = image.run(
      { DATABASE_URL: url, REDIS_URL: testServices.redisUrl, AWS_REGION: 'us-east-1', ALARM_ACTIONS: 'none' },
      ['node', 'dist/libs/control-plane-db/src/cli/migrate.js', '--create-database'],
    );
    const { code } = await migrate.exitWithin(60_000);
    expect({ code, stderr: migrate.stderr }).toEqual({ code: 0, stderr: '' });
    const messages = migrate.logLines().map((l) => l.msg);
    expect(messages).toEqual(
      expect.arrayContaining(['created the control-plane database', 'migrations applied']),
    );

    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table: string | null }>(
        `SELECT to_regclass('public.tenants')::text AS table`,
      );
      expect(rows[0].table).toBe('tenants');
    } finally {
      await client.end();
    }
  });

  it('refuses a development signing secret under its own NODE_ENV=production, naming it', async () => {
    const api = image.run(
      imageEnvironment({
        DATABASE_URL: url,
        REDIS_URL: testServices.redisUrl,
        AWS_REGION: 'us-east-1',
        ALARM_ACTIONS: 'none',
        AUTH_JWT_SECRET: 'a-development-secret-that-is-long-enough',
      }),
      ['node', 'dist/apps/control-plane-api/src/main.js'],
    );
    expect((await api.exitWithin(30_000)).code).toBe(1);
    expect(api.stderr).toContain(
      'AUTH_JWT_SECRET: is for development only and refused with NODE_ENV=production',
    );
  });

  it('answers /readyz with its API and provisions a tenant to ACTIVE with its worker', async () => {
    // Production verifies tokens through an identity provider's JWKS, never a shared secret.
    idp = await TestJwks.start();
    const provider = idp;
    stack = await SiloStack.start(
      {
        DATABASE_URL: url,
        SILO_RESOURCE_PREFIX: PREFIX,
        ...fastLocalSagaEnvironment(),
        ...provider.environment({ control: 'urn:silo:control-plane', tenant: 'urn:silo:data-plane' }),
        LOG_LEVEL: 'info',
      },
      (entry, env) => image.run(imageEnvironment(env), ['node', `dist/${entry}`]),
      (caller) => provider.mint({ ...caller, audience: 'urn:silo:control-plane' }),
    );
    // SiloStack.start has waited for /readyz to answer 200 and for the worker to take jobs.
    for (const p of stack.processes) {
      expect(running(p)).toBe(true);
      expect(uidOf(p.pid)).toBe(image.userIds().uid);
    }
    // The image's environment applies: production, JSON logs.
    expect(stack.api.logLines().length).toBeGreaterThan(0);

    const created = await stack.call<TenantBody>('POST', '/v1/tenants', OPS, {
      slug,
      name: 'Image Check Corp',
      // On an instance of its own under the built-in profiles.
      tier: 'enterprise',
    });
    expect(created.status).toBe(202);
    const active = await stack.waitForStatus(created.body.id, 'ACTIVE', OPS, 90_000);
    expect(active.database?.endpoint).toMatchObject({ host: expect.any(String), port: expect.any(Number) });
  });
});
