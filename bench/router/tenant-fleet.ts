import { randomBytes, randomUUID } from 'node:crypto';
import { quoteIdentifier } from '@silo/core';
import type { TenantAppCredentials, TenantDirectoryEntry } from '@silo/tenant-router';
import { loadTenantMigrations, migrateTenantSchema, scramSha256Verifier } from '@silo/tenant-schema';
import { Client } from 'pg';
import { SUPERUSER } from './private-postgres';

export const TEMPLATE_DATABASE = 'bench_template';
/** The one database of contender (b), a copy of the template. */
export const SHARED_DATABASE = 'bench_shared';
const TENANT_GROUP = 'bench_tenant';
export const NOTES_PER_TENANT = 1000;

export interface FleetTenant {
  entry: TenantDirectoryEntry;
  credentials: TenantAppCredentials;
}

export interface FleetSetup {
  tenants: FleetTenant[];
  templateMs: number;
  databasesMs: number;
  /** Sum of pg_database_size over the tenant databases. */
  diskBytes: number;
}

/**
 * Creates a template database with the tenant schema (libs/tenant-schema's migrations, an
 * instance's target: `app.notes` under row-level security), then per tenant a login role with its
 * own password and a database copied from the template that only that role (and the superuser)
 * may connect to, holding NOTES_PER_TENANT notes of that tenant. The table privileges sit on a
 * group role granted in the template.
 */
export async function createFleet(options: {
  port: number;
  tenants: number;
  concurrency: number;
  log: (line: string) => void;
  signal: AbortSignal;
}): Promise<FleetSetup> {
  const { port, log, signal } = options;
  const started = performance.now();
  await withSuperuser(port, 'postgres', async (client) => {
    await client.query(`CREATE ROLE ${TENANT_GROUP} NOLOGIN`);
    await client.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  });
  const { schemaVersion } = await migrateTenantSchema(
    { host: '127.0.0.1', port, database: TEMPLATE_DATABASE, user: SUPERUSER, password: 'trust' },
    loadTenantMigrations(),
    { lockTimeoutMs: 10_000, statementTimeoutMs: 60_000, appliedBy: 'bench', tenant: TEMPLATE_DATABASE },
  );
  await withSuperuser(port, TEMPLATE_DATABASE, async (client) => {
    await client.query('REVOKE ALL ON SCHEMA public FROM PUBLIC');
    await client.query(`GRANT USAGE ON SCHEMA app TO ${TENANT_GROUP}`);
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO ${TENANT_GROUP}`);
  });
  await withSuperuser(port, 'postgres', (client) =>
    client.query(`CREATE DATABASE ${SHARED_DATABASE} TEMPLATE ${TEMPLATE_DATABASE} STRATEGY FILE_COPY`),
  );
  // (b) reads it as the superuser, past row-level security: whose notes they are does not matter.
  await withSuperuser(port, SHARED_DATABASE, (client) => insertNotes(client, 'app', randomUUID()));
  const templateMs = performance.now() - started;

  const tenants = Array.from({ length: options.tenants }, (_, i): FleetTenant => {
    const slug = `t${String(i).padStart(5, '0')}`;
    return {
      entry: {
        id: randomUUID(),
        slug,
        tier: 'starter',
        status: 'ACTIVE',
        schemaVersion,
        region: null,
        routeVersion: 1,
        writesPaused: false,
        placement: { kind: 'instance' },
      },
      credentials: {
        host: '127.0.0.1',
        port,
        dbname: slug,
        username: `${slug}_app`,
        password: randomBytes(24).toString('base64url'),
      },
    };
  });

  log(`creating ${tenants.length} tenant databases and roles, ${options.concurrency} at a time`);
  const databasesStarted = performance.now();
  let next = 0;
  let done = 0;
  const progress = setInterval(() => log(`  ${done} of ${tenants.length} tenant databases`), 10_000);
  try {
    await Promise.all(
      Array.from({ length: Math.min(options.concurrency, tenants.length) }, () =>
        withSuperuser(port, 'postgres', async (client) => {
          while (next < tenants.length) {
            signal.throwIfAborted();
            const index = next++;
            const { credentials } = tenants[index];
            const database = quoteIdentifier(credentials.dbname);
            const role = quoteIdentifier(credentials.username);
            // A verifier, as production sends it: the plaintext never reaches the server.
            const verifier = client.escapeLiteral(scramSha256Verifier(credentials.password));
            await client.query(
              `CREATE ROLE ${role} LOGIN INHERIT IN ROLE ${TENANT_GROUP} PASSWORD ${verifier}`,
            );
            // FILE_COPY: with wal_level minimal the copy is not written to the WAL a second time.
            await client.query(
              `CREATE DATABASE ${database} TEMPLATE ${TEMPLATE_DATABASE} STRATEGY FILE_COPY`,
            );
            await client.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
            await client.query(`GRANT CONNECT ON DATABASE ${database} TO ${role}`);
            // Every note carries its tenant's id (row-level security shows a tenant its own only),
            // so the notes are written per database rather than copied with the template.
            await withSuperuser(port, credentials.dbname, (tenantDb) =>
              insertNotes(tenantDb, 'app', tenants[index].entry.id),
            );
            done++;
          }
        }),
      ),
    );
  } finally {
    clearInterval(progress);
  }
  const databasesMs = performance.now() - databasesStarted;

  const diskBytes = await withSuperuser(port, 'postgres', async (client) => {
    const result = await client.query<{ bytes: string }>(
      `SELECT coalesce(sum(pg_database_size(datname)), 0)::text AS bytes
       FROM pg_database WHERE datname = ANY($1)`,
      [tenants.map((t) => t.credentials.dbname)],
    );
    return Number(result.rows[0].bytes);
  });
  return { tenants, templateMs, databasesMs, diskBytes };
}

export async function withSuperuser<T>(
  port: number,
  database: string,
  use: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({
    host: '127.0.0.1',
    port,
    database,
    user: SUPERUSER,
    connectionTimeoutMillis: 10_000,
    application_name: 'bench-admin',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * `notes` notes of `tenantId` into `<schema>.notes`, as the superuser (past row-level security),
 * newest last, then VACUUM ANALYZE so that no reader sets hint bits or plans without statistics.
 */
export async function insertNotes(
  client: Client,
  schema: string,
  tenantId: string | readonly string[],
  notes = NOTES_PER_TENANT,
): Promise<void> {
  const table = `${quoteIdentifier(schema)}.notes`;
  await client.query(
    `INSERT INTO ${table} (tenant_id, text, created_at)
     SELECT t.id, 'note ' || g || ' ' || repeat('x', 40), now() - g * interval '1 minute'
     FROM unnest($1::uuid[]) AS t(id), generate_series(1, $2::int) AS g`,
    [typeof tenantId === 'string' ? [tenantId] : tenantId, notes],
  );
  await client.query(`VACUUM ANALYZE ${table}`);
}
