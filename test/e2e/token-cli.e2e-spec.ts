import { Client } from 'pg';
import { AuthErrorCode, jwtVerifierFromSettings } from '../../libs/auth/src';
import { builtEntry, SiloProcess } from '../support/silo-process';
import { testEnvironment, uniqueToken } from '../support/test-config';
import { runDatabaseUrl } from '../support/test-services';

const TOKEN_CLI = 'libs/auth/src/cli/token.cli.js';
const SECRET = 'e2e-secret-that-is-long-enough-for-hs256';
const env = testEnvironment({
  AUTH_JWT_SECRET: SECRET,
  AUTH_ISSUER: 'silo-dev',
  AUTH_AUDIENCE: 'silo-api',
  TENANT_AUTH_AUDIENCE: 'silo-tenant',
});
const auth = { jwtSecret: SECRET, issuer: 'silo-dev', audience: 'silo-api', tenantAudience: 'silo-tenant' };
/** What the API checks operator tokens with. */
const verifier = jwtVerifierFromSettings(auth, 'the API', 'control-plane');
/** What a tenant app checks tenant tokens with. */
const tenantVerifier = jwtVerifierFromSettings(auth, 'a tenant app', 'data-plane');
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (e: { code?: string }) => e.code,
  );

async function run(args: string[], overrides: Record<string, string> = {}) {
  const p = SiloProcess.node(builtEntry(TOKEN_CLI), { ...env, ...overrides }, args);
  return { ...(await p.exitWithin(15_000)), stdout: p.stdout, stderr: p.stderr };
}

describe('npm run --silent token', () => {
  it('prints only an operator token with the asked roles', async () => {
    const { code, stdout, stderr } = await run(['--role', 'admin', '--role', 'sre']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(await verifier.verify(stdout.trim())).toEqual({ sub: 'dev-admin-sre', roles: ['admin', 'sre'] });
    expect(await refusal(tenantVerifier.verify(stdout.trim()))).toBe(AuthErrorCode.WRONG_PLANE);
  });

  it('prints a tenant token whose tenant_id is the id of the tenant with that slug', async () => {
    const slug = `tok-${uniqueToken()}`;
    const db = new Client({ connectionString: runDatabaseUrl() });
    await db.connect();
    const { rows } = await db
      .query<{ id: string }>(
        `INSERT INTO tenants (slug, name, tier, status) VALUES ($1, 'Token test', 'starter', 'ACTIVE') RETURNING id`,
        [slug],
      )
      .finally(() => db.end());
    const { code, stdout } = await run(['--tenant', slug]);
    expect(code).toBe(0);
    expect(await tenantVerifier.verify(stdout.trim())).toEqual({
      sub: `tenant-app:${slug}`,
      roles: [],
      tenantId: rows[0].id,
    });
    expect(await refusal(verifier.verify(stdout.trim()))).toBe(AuthErrorCode.WRONG_PLANE);
  });

  it('takes a tenant id as it is, and names a slug no tenant has', async () => {
    const id = '6f1c2d3e-4a5b-4c6d-8e7f-001122334455';
    const byId = await run(['--tenant', id]);
    expect(byId.code).toBe(0);
    expect((await tenantVerifier.verify(byId.stdout.trim())).tenantId).toBe(id);

    const unknown = await run(['--tenant', `nobody-${uniqueToken()}`]);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/no tenant has the slug "nobody-[0-9a-f]+"/);
  });

  it.each([
    [['--role', 'root'], 2, 'unknown role "root"'],
    [[], 2, 'give at least one --role, or --tenant'],
    [['--role', 'ops', '--tenant', 'acme'], 2, 'either an operator token'],
  ])('refuses %j', async (args, exitCode, message) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(exitCode);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
  });

  it('says TENANT_AUTH_AUDIENCE is needed for a tenant token when it is not set', async () => {
    const { code, stdout, stderr } = await run(['--tenant', '6f1c2d3e-4a5b-4c6d-8e7f-001122334455'], {
      TENANT_AUTH_AUDIENCE: '',
    });
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr).toContain('TENANT_AUTH_AUDIENCE is not set');
  });

  it('says AUTH_JWT_SECRET is needed when it is not set', async () => {
    const { code, stderr } = await run(['--role', 'ops'], { AUTH_JWT_SECRET: '' });
    expect(code).toBe(1);
    expect(stderr).toContain('AUTH_JWT_SECRET is not set');
  });
});
