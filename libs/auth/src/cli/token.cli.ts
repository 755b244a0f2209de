import { isTenantId } from '@silo/core';
import { loadConfigOrExit, type SiloConfig } from '@silo/config';
import { Client } from 'pg';
import { mintDevToken } from '../dev-token';
import { ROLES, type Role } from '../principal';

const USAGE = `usage: npm run --silent token -- --role <${ROLES.join('|')}> [--role …] [--sub <sub>] [--ttl <seconds>]
       npm run --silent token -- --tenant <slug-or-id> [--sub <sub>] [--ttl <seconds>]
Prints a development JWT signed with AUTH_JWT_SECRET, and nothing else. An operator token
(--role) is for the control plane (aud AUTH_AUDIENCE); a tenant token (--tenant) is for the data
plane (aud TENANT_AUTH_AUDIENCE), and its tenant_id claim is the tenant's id: a slug is looked up
in the control-plane database. Neither plane accepts the other's tokens.`;

function fail(message: string, code = 2): never {
  process.stderr.write(`token: ${message}\n${USAGE}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const roles: Role[] = [];
  let tenant: string | undefined;
  let sub: string | undefined;
  let ttlSeconds = 3600;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) fail(`${flag} needs a value`);
    if (flag === '--role') {
      if (!(ROLES as readonly string[]).includes(value)) fail(`unknown role ${JSON.stringify(value)}`);
      roles.push(value as Role);
    } else if (flag === '--tenant') tenant = value;
    else if (flag === '--sub') sub = value;
    else if (flag === '--ttl') {
      ttlSeconds = Number(value);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) fail('--ttl takes a whole number of seconds');
    } else fail(`unknown argument ${JSON.stringify(flag)}`);
  }
  if (!roles.length && !tenant) fail('give at least one --role, or --tenant');
  if (roles.length && tenant)
    fail('a token is either an operator token (--role) or a tenant token (--tenant)');
  const config = loadConfigOrExit('token');
  if (!config.auth.jwtSecret) fail('AUTH_JWT_SECRET is not set: development tokens are signed with it', 1);
  if (tenant && !config.auth.tenantAudience)
    fail("TENANT_AUTH_AUDIENCE is not set: a tenant token is minted for the data plane's audience", 1);
  const tenantId = tenant === undefined ? undefined : await tenantIdOf(config, tenant);
  const token = await mintDevToken({
    secret: config.auth.jwtSecret,
    sub: sub ?? (tenant ? `tenant-app:${tenant}` : `dev-${roles.join('-')}`),
    roles: roles.length ? roles : undefined,
    tenantId,
    issuer: config.auth.issuer,
    audience: tenant ? config.auth.tenantAudience : config.auth.audience,
    ttlSeconds,
  });
  process.stdout.write(`${token}\n`);
}

/** The tenant's id: a uuid is taken as it is, a slug is looked up in the control-plane database. */
async function tenantIdOf(config: SiloConfig, tenant: string): Promise<string> {
  if (isTenantId(tenant)) return tenant.toLowerCase();
  const client = new Client({
    connectionString: config.database.url,
    connectionTimeoutMillis: config.database.connectTimeoutMs,
    application_name: 'silo-token',
  });
  client.on('error', () => undefined);
  let id: string | undefined;
  try {
    await client.connect();
    const { rows } = await client.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [tenant]);
    id = rows[0]?.id;
  } catch (error) {
    throw new Error(
      `looking up tenant ${JSON.stringify(tenant)} in the control-plane database failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  return id ?? fail(`no tenant has the slug ${JSON.stringify(tenant)} (npm run tenant -- list)`, 1);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
