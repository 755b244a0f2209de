import { randomBytes } from 'node:crypto';
import { dataPlaneRole, dataPlaneSecretName, dataPlaneSecretTags, quoteIdentifier } from '@silo/core';
import { AwsClients, ControlPlaneSecrets } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { assertUsablePassword, scramSha256Verifier } from '@silo/tenant-schema';
import { Client } from 'pg';

/**
 * CONNECTION LIMIT of the data-plane role unless told otherwise: what every replica of every tenant
 * application together may hold on the control-plane database. The router caches a tenant's
 * directory entry for its status TTL, so each replica needs a pool of 2 (docs/data-plane.md):
 * 50 is room for 25 replicas, and keeps a runaway data plane from taking the connections the API
 * and the worker need.
 */
export const DATA_PLANE_CONNECTION_LIMIT = 50;

type SecretValue = Record<string, string | number>;

/** Where the data-plane secret lives (libs/aws `ControlPlaneSecrets`). */
export interface DataPlaneSecretStore {
  find(name: string): Promise<{
    tags: Record<string, string>;
    value: Record<string, unknown> | null;
    deletionDate?: Date;
  } | null>;
  /** False when a secret of that name exists already. */
  create(
    name: string,
    value: SecretValue,
    options: { tags: Record<string, string>; kmsKeyId?: string; description: string },
  ): Promise<boolean>;
  write(name: string, value: SecretValue): Promise<void>;
}

export interface DataPlaneLoginOptions {
  /**
   * DATABASE_URL: the control-plane database, as the user that migrates it. Its host, port and
   * database name are what the secret tells the data plane.
   */
  databaseUrl: string;
  secrets: DataPlaneSecretStore;
  /** SILO_RESOURCE_PREFIX: the secret is `<prefix>/control-plane/data-plane`. */
  prefix: string;
  /**
   * SILO_ENVIRONMENT: the secret's `silo:environment` tag. A secret of that name tagged for
   * another environment (or not at all) is another control plane's, and refused.
   */
  environment: string;
  /** KMS_KEY_ID: the key a secret this creates is encrypted with. Default: Secrets Manager's own. */
  kmsKeyId?: string;
  /** CONNECTION LIMIT of the role. Default {@link DATA_PLANE_CONNECTION_LIMIT}. */
  connectionLimit?: number;
  /** Default 5000 ms. */
  connectTimeoutMs?: number;
}

export interface DataPlaneLoginResult {
  secretName: string;
  role: string;
  /** This call made the secret, with a new password. */
  createdSecret: boolean;
  /** This call wrote the secret's engine, host, port, dbname or username (its password kept). */
  updatedSecret: boolean;
  connectionLimit: number;
}

/**
 * The data plane's login to the control-plane database, made usable, from the control plane's
 * configuration (DATABASE_URL, SILO_RESOURCE_PREFIX, SILO_ENVIRONMENT, KMS_KEY_ID, AWS_*): the secret
 * `<prefix>/control-plane/data-plane` holds `{engine, host, port, dbname, username, password}`
 * (the tenants' app secret shape), created with a random password when missing and otherwise
 * keeping its password, and the database's role `<database>_data_plane` (`dataPlaneRole`, made
 * by the control-plane migrations)
 * may log in with that password, within `connectionLimit` connections. Only a SCRAM-SHA-256
 * verifier computed here reaches PostgreSQL, never the password. Safe to run again and from
 * several processes at once; run it after the migrations (`migrate --data-plane-login`).
 *
 * Roles are the server's, so the role is named after the control-plane database: two control
 * planes on one server each have their own, and never set each other's password.
 */
export async function ensureDataPlaneLogin(
  config: SiloConfig,
  options: { connectionLimit?: number } = {},
): Promise<DataPlaneLoginResult> {
  const aws = new AwsClients(config);
  try {
    return await applyDataPlaneLogin({
      databaseUrl: config.database.url,
      secrets: new ControlPlaneSecrets(aws),
      prefix: config.resources.prefix,
      environment: config.resources.environment,
      kmsKeyId: config.tenants.kmsKeyId,
      connectionLimit: options.connectionLimit,
      connectTimeoutMs: config.database.connectTimeoutMs,
    });
  } finally {
    aws.onApplicationShutdown();
  }
}

/** {@link ensureDataPlaneLogin} with the database, the secret store and the names given. */
export async function applyDataPlaneLogin(options: DataPlaneLoginOptions): Promise<DataPlaneLoginResult> {
  const connectionLimit = options.connectionLimit ?? DATA_PLANE_CONNECTION_LIMIT;
  if (!Number.isSafeInteger(connectionLimit) || connectionLimit < 1 || connectionLimit > 10_000) {
    throw new Error(
      `the data-plane connection limit must be a whole number from 1 to 10000, not ${connectionLimit}`,
    );
  }
  const endpoint = endpointOf(options.databaseUrl);
  const client = new Client({
    connectionString: options.databaseUrl,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    application_name: 'silo-data-plane-login',
  });
  await client.connect();
  try {
    const roleName = dataPlaneRole(endpoint.dbname);
    await assertRoleUsable(client, roleName);
    const secretName = dataPlaneSecretName(options.prefix);
    const secret = await ensureSecret(options, secretName, endpoint, roleName);
    const role = quoteIdentifier(roleName, 'data-plane role');
    const verifier = client.escapeLiteral(scramSha256Verifier(secret.password));
    await client.query(
      `ALTER ROLE ${role} LOGIN NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT ${connectionLimit} PASSWORD ${verifier}`,
    );
    return {
      secretName,
      role: roleName,
      createdSecret: secret.created,
      updatedSecret: secret.updated,
      connectionLimit,
    };
  } finally {
    await client.end();
  }
}

interface Endpoint {
  host: string;
  port: number;
  dbname: string;
}

function endpointOf(databaseUrl: string): Endpoint {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new Error(
      'DATABASE_URL is not a URL: the data-plane secret takes its host, port and database from it',
    );
  }
  const dbname = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!url.hostname || !dbname) {
    throw new Error('DATABASE_URL names no host or no database: the data-plane secret takes both from it');
  }
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 5432), dbname };
}

/**
 * The role must be there (the migrations make it) and hold nothing it should not: no
 * SUPERUSER, REPLICATION or BYPASSRLS, and no membership, through which it would read what the
 * other role reads. Silo does not take these away by itself; the message says what to run.
 */
async function assertRoleUsable(client: Client, roleName: string): Promise<void> {
  const found = await client.query<{
    rolsuper: boolean;
    rolreplication: boolean;
    rolbypassrls: boolean;
    memberships: string[];
  }>(
    `SELECT r.rolsuper, r.rolreplication, r.rolbypassrls,
            ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                   WHERE m.member = r.oid ORDER BY 1) AS memberships
       FROM pg_roles r WHERE r.rolname = $1`,
    [roleName],
  );
  const role = found.rows[0];
  if (!role) {
    throw new Error(
      `role ${roleName} does not exist: the control-plane migrations make it; run them first (migrate --data-plane-login does both)`,
    );
  }
  if (role.rolsuper || role.rolreplication || role.rolbypassrls) {
    throw new Error(
      `role ${roleName} has SUPERUSER, REPLICATION or BYPASSRLS; refusing to let the data plane log in as it (a superuser must remove them)`,
    );
  }
  if (role.memberships.length) {
    throw new Error(
      `role ${roleName} is a member of ${role.memberships.join(', ')}, and would read what they read; ` +
        `refusing to let the data plane log in as it (REVOKE <role> FROM ${roleName}, then run again)`,
    );
  }
}

async function ensureSecret(
  options: DataPlaneLoginOptions,
  name: string,
  endpoint: Endpoint,
  roleName: string,
  raced = false,
): Promise<{ password: string; created: boolean; updated: boolean }> {
  const wanted = { engine: 'postgres', ...endpoint, username: roleName };
  const found = await options.secrets.find(name);
  if (!found) {
    if (raced) throw new Error(`secret ${name} was reported to exist, then not found: run again`);
    // base64url: no quote, backslash, '@' or '/', which break connection strings written by hand.
    const password = randomBytes(24).toString('base64url');
    const created = await options.secrets.create(
      name,
      { ...wanted, password },
      {
        tags: dataPlaneSecretTags(options.environment),
        kmsKeyId: options.kmsKeyId,
        description: `Silo (${options.prefix}): the data plane's login to the control-plane database, ${roleName}`,
      },
    );
    if (created) return { password, created: true, updated: false };
    // Another run made it between the two calls: use what it made.
    return ensureSecret(options, name, endpoint, roleName, true);
  }
  if (found.deletionDate) {
    throw new Error(
      `secret ${name} is scheduled for deletion (on ${found.deletionDate.toISOString()}): restore it ` +
        `(aws secretsmanager restore-secret --secret-id ${name}) or wait until it is gone, then run again`,
    );
  }
  const tagged = found.tags['silo:environment'];
  if (tagged !== options.environment) {
    throw new Error(
      `secret ${name} is ${tagged === undefined ? 'not tagged silo:environment' : `tagged silo:environment=${tagged}`}, ` +
        `not ${options.environment}: it is not this control plane's (give each control plane its own SILO_RESOURCE_PREFIX, or tag it if it is this one's)`,
    );
  }
  const value = found.value;
  if (!value) throw new Error(`secret ${name} holds no JSON value`);
  const password = value.password;
  if (typeof password !== 'string') throw new Error(`secret ${name} has no password field holding a string`);
  assertUsablePassword(password, `the password field of secret ${name}`);

  const current: SecretValue = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'string' || typeof v === 'number') current[key] = v;
  }
  const stale = Object.entries(wanted).some(([key, v]) => String(current[key]) !== String(v));
  if (!stale) return { password, created: false, updated: false };
  // Made without an endpoint (the prerequisites stack's), or the database moved: the endpoint
  // of DATABASE_URL, the password kept.
  await options.secrets.write(name, { ...current, ...wanted, password });
  return { password, created: false, updated: true };
}
