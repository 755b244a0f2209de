import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { quoteIdentifier } from '../../core/src';
import { uniqueToken } from '../../../test/support/test-config';
import { storedPasswordIs as storedPasswordOn } from '../../../test/support/stored-password';
import { databaseUrl, instanceAdminUrl } from '../../../test/support/test-services';
import { loadTenantMigrations, migrateTenantSchema, type PgEndpoint, type TenantMigrateResult } from '../src';

/** The run's cluster of the local instance backend: its superuser, over SCRAM, as the backend logs in. */
export const adminUrl = instanceAdminUrl();

/** Names and passwords for one emulated tenant instance. */
export interface TestTenant {
  database: string;
  ownerRole: string;
  ownerPassword: string;
  appRole: string;
  appPassword: string;
  /** The tenant whose rows the database holds (its logins' app.tenant_id). */
  tenantId: string;
}

/** Creates names only; the test materialises what it needs, `dropTestTenants` removes it. */
export function newTestTenant(registry: TestTenant[]): TestTenant {
  const token = uniqueToken();
  const tenant = {
    database: `silo-t-${token}`,
    ownerRole: `silo_t_${token}_admin`,
    ownerPassword: `owner-${uniqueToken(12)}`,
    appRole: `silo_t_${token}_app`,
    // Quotes, a backslash and a statement terminator: the password must reach SQL as a literal.
    appPassword: `it's "app" \\ ${uniqueToken(12)}'; DROP ROLE postgres; --`,
    tenantId: randomUUID(),
  };
  registry.push(tenant);
  return tenant;
}

/** Drops the databases and roles of the given tenants (and extra roles), only those. */
export async function dropTestTenants(tenants: TestTenant[], extraRoles: string[] = []): Promise<void> {
  await withAdmin(async (admin) => {
    for (const t of tenants)
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(t.database)} WITH (FORCE)`);
    const roles = [...extraRoles, ...tenants.map((t) => t.appRole), ...tenants.map((t) => t.ownerRole)];
    for (const role of roles) await dropRole(admin, role);
  });
}

/** Drops a role, with the parameter privilege a local instance's owner holds (it blocks DROP ROLE). */
export async function dropRole(admin: Client, role: string): Promise<void> {
  const found = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (!found.rowCount) return;
  await admin.query(`REVOKE ALL ON PARAMETER app.tenant_id FROM ${quoteIdentifier(role)}`);
  await admin.query(`DROP ROLE ${quoteIdentifier(role)}`);
}

/** An endpoint on the test server. */
export function endpoint(database: string, user: string, password: string): PgEndpoint {
  const url = new URL(adminUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    database,
    user,
    password,
    connectTimeoutMs: 3000,
  };
}

export function ownerEndpoint(t: TestTenant): PgEndpoint {
  return endpoint(t.database, t.ownerRole, t.ownerPassword);
}

export function appEndpoint(t: TestTenant): PgEndpoint {
  return endpoint(t.database, t.appRole, t.appPassword);
}

/** Runs `work` on an admin connection (to `database`, default the admin URL's). */
export async function withAdmin<T>(work: (client: Client) => Promise<T>, database?: string): Promise<T> {
  const client = new Client({
    connectionString: database ? databaseUrl(adminUrl, database) : adminUrl,
    connectionTimeoutMillis: 3000,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A connected client for the endpoint's role; the caller ends it. */
export async function openSession(at: PgEndpoint): Promise<Client> {
  const client = new Client({
    host: at.host,
    port: at.port,
    database: at.database,
    user: at.user,
    password: at.password,
    connectionTimeoutMillis: 3000,
  });
  // A session terminated by the server fails its query; the event must not crash the worker.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Runs `work` connected as the endpoint's role. */
export async function withClient<T>(at: PgEndpoint, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await openSession(at);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The SQLSTATE a promise rejects with; fails the test when it resolves. */
export async function sqlStateOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return String((error as { code?: unknown }).code);
  }
  throw new Error('expected the statement to fail');
}

export async function databaseExists(name: string): Promise<boolean> {
  return withAdmin(async (admin) => {
    const result = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return result.rowCount === 1;
  });
}

export async function roleExists(name: string): Promise<boolean> {
  return withAdmin(async (admin) => {
    const result = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    return result.rowCount === 1;
  });
}

/** Whether `password` is the role's stored password on the test server (see stored-password.ts). */
export function storedPasswordIs(role: string, password: string): Promise<boolean> {
  return storedPasswordOn(role, password, adminUrl);
}

/** Timeouts for migrations in tests: short enough that a test never waits long on a lock. */
export const TEST_MIGRATION_TIMEOUTS = { lockTimeoutMs: 3000, statementTimeoutMs: 30_000 };

/** Applies the built-in tenant schema (app.notes) to an instance's database, as provisioning does. */
export async function applyBuiltInSchema(owner: PgEndpoint, tenantId?: string): Promise<TenantMigrateResult> {
  return migrateTenantSchema(owner, loadTenantMigrations(), {
    ...TEST_MIGRATION_TIMEOUTS,
    appliedBy: 'test',
    tenant: owner.database,
    into: { placement: 'instance', schema: 'app', tenantId },
  });
}
