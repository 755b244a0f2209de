import { JwtVerifier } from '../../libs/auth/src';
import { builtEntry, SiloProcess } from '../support/silo-process';
import { testEnvironment } from '../support/test-config';

const TOKEN_CLI = 'libs/auth/src/cli/token.cli.js';
const SECRET = 'e2e-secret-that-is-long-enough-for-hs256';
const env = testEnvironment({ AUTH_JWT_SECRET: SECRET, AUTH_ISSUER: 'silo-dev', AUTH_AUDIENCE: 'silo-api' });
const verifier = new JwtVerifier({ hs256Secret: SECRET, issuer: 'silo-dev', audience: 'silo-api' });

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
  });

  it('prints a tenant token carrying tenant_id', async () => {
    const { code, stdout } = await run(['--tenant', 'acme']);
    expect(code).toBe(0);
    expect(await verifier.verify(stdout.trim())).toEqual({
      sub: 'tenant-app:acme',
      roles: [],
      tenantId: 'acme',
    });
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

  it('says AUTH_JWT_SECRET is needed when it is not set', async () => {
    const { code, stderr } = await run(['--role', 'ops'], { AUTH_JWT_SECRET: '' });
    expect(code).toBe(1);
    expect(stderr).toContain('AUTH_JWT_SECRET is not set');
  });
});
