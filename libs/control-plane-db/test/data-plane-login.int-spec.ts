import { Writable } from 'node:stream';
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import pino from 'pino';
import { Client, type DatabaseError } from 'pg';
import { storedPasswordIs } from '../../../test/support/stored-password';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { AwsClients, ControlPlaneSecrets, TenantSecrets } from '../../aws/src';
import type { SiloConfig } from '../../config/src';
import { dataPlaneRole, dataPlaneSecretName } from '../../core/src';
import { loggerOptions } from '../../observability/src';
import { ControlPlaneTenantDirectory } from '../../tenant-router/src/adapters/control-plane-tenant-directory';
import { ensureDataPlaneLogin } from '../src';
import { runMigrate } from '../src/cli/migrate-command';

// The role and its password are the cluster's: these tests set it one after the other, and no
// other test file logs in as it.
let database: { name: string; url: string };
let config: SiloConfig;
let aws: AwsClients;
let secrets: TenantSecrets;
let secretName: string;

beforeAll(async () => {
  database = await createOwnDatabase('dplogin');
  const prefix = `dp${uniqueToken(3)}`;
  config = testConfig({ DATABASE_URL: database.url, SILO_RESOURCE_PREFIX: prefix });
  aws = new AwsClients(config);
  secrets = new TenantSecrets(aws);
  secretName = dataPlaneSecretName(prefix);
}, 30_000);

afterAll(async () => {
  aws?.onApplicationShutdown();
  if (database) await dropDatabase(database.name);
}, 30_000);

afterEach(async () => {
  // The next test starts with no secret.
  await aws.secretsManager.send(
    new DeleteSecretCommand({ SecretId: secretName, ForceDeleteWithoutRecovery: true }),
  );
});

interface Login {
  engine: string;
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
}

async function readLogin(): Promise<Login> {
  const value = await secrets.read(secretName);
  if (!value) throw new Error(`no secret ${secretName}`);
  return value as unknown as Login;
}

async function asDataPlane<T>(login: Login, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({
    host: login.host,
    port: login.port,
    database: login.dbname,
    user: login.username,
    password: login.password,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function asAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: database.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('the data-plane login', () => {
  it('writes the secret in the app secret shape, and its login reads the tenant directory', async () => {
    const result = await ensureDataPlaneLogin(config);
    expect(result).toEqual({
      secretName,
      role: dataPlaneRole(database.name),
      createdSecret: true,
      updatedSecret: false,
      connectionLimit: 50,
    });
    const login = await readLogin();
    expect(login).toEqual({
      engine: 'postgres',
      host: '127.0.0.1',
      port: 5432,
      dbname: database.name,
      username: dataPlaneRole(database.name),
      password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
    });
    // The server trusts loopback, so a login proves nothing about the password: this does.
    expect(await storedPasswordIs(dataPlaneRole(database.name), login.password)).toBe(true);

    const tenant = await asAdmin(async (admin) => {
      const rows = await admin.query<{ id: string; slug: string }>(
        `INSERT INTO tenants (slug, name, tier, status, created_by, schema_version)
         VALUES ($1, 'Acme', 'pro', 'ACTIVE', 'ops-1', '0003') RETURNING id, slug`,
        [`t-${uniqueToken()}`],
      );
      const role = await admin.query(
        'SELECT rolcanlogin, rolconnlimit, rolinherit FROM pg_roles WHERE rolname = $1',
        [dataPlaneRole(database.name)],
      );
      expect(role.rows).toEqual([{ rolcanlogin: true, rolconnlimit: 50, rolinherit: false }]);
      return rows.rows[0];
    });
    await asDataPlane(login, async (client) => {
      expect((await client.query('SELECT current_user AS who')).rows).toEqual([
        { who: dataPlaneRole(database.name) },
      ]);
      const directory = new ControlPlaneTenantDirectory(
        { query: async (sql: string, params?: unknown[]) => (await client.query(sql, params)).rows } as never,
        config.resources.prefix,
      );
      await expect(directory.find(tenant.id)).resolves.toEqual({
        id: tenant.id,
        slug: tenant.slug,
        tier: 'pro',
        status: 'ACTIVE',
        schemaVersion: '0003',
        placement: { kind: 'instance' },
        region: null,
        routeVersion: 1,
        writesPaused: false,
      });
    });
  }, 30_000);

  it('is refused everything but the view: reading the tables, writing anything, creating tables', async () => {
    await ensureDataPlaneLogin(config);
    const login = await readLogin();
    const denied = '42501';
    // A view with a join is not updatable at all; the role holds no privilege to write it either
    // (data-plane-directory.int-spec.ts).
    const notUpdatable = '55000';
    const expected: { statement: string; sqlState: string }[] = [
      { statement: 'SELECT id FROM tenants', sqlState: denied },
      { statement: 'SELECT * FROM tenant_events', sqlState: denied },
      { statement: 'SELECT name FROM hosts', sqlState: denied },
      { statement: 'SELECT * FROM silo_migrations', sqlState: denied },
      {
        statement: `INSERT INTO tenants (slug, name, tier, status) VALUES ('evil', 'Evil', 'pro', 'ACTIVE')`,
        sqlState: denied,
      },
      { statement: `UPDATE tenants SET status = 'ACTIVE'`, sqlState: denied },
      { statement: 'DELETE FROM tenants', sqlState: denied },
      { statement: `UPDATE data_plane.tenant_directory SET status = 'ACTIVE'`, sqlState: notUpdatable },
      { statement: 'DELETE FROM data_plane.tenant_directory', sqlState: notUpdatable },
      { statement: 'CREATE TABLE public.planted (id int)', sqlState: denied },
      { statement: 'CREATE TABLE data_plane.planted (id int)', sqlState: denied },
      { statement: 'CREATE VIEW data_plane.planted AS SELECT 1', sqlState: denied },
    ];
    const outcomes = await asDataPlane(login, async (client) => {
      const found: { statement: string; sqlState?: string }[] = [];
      for (const { statement } of expected) {
        const error = await client.query(statement).then(
          () => undefined,
          (e: DatabaseError) => e,
        );
        found.push({ statement, sqlState: error?.code });
      }
      return found;
    });
    expect(outcomes).toEqual(expected);
  }, 30_000);

  it('keeps its password when run again, and still logs in', async () => {
    await ensureDataPlaneLogin(config);
    const first = await readLogin();
    const again = await ensureDataPlaneLogin(config);
    expect(again).toMatchObject({ createdSecret: false, updatedSecret: false });
    expect(await readLogin()).toEqual(first);
    expect(await storedPasswordIs(dataPlaneRole(database.name), first.password)).toBe(true);
    await asDataPlane(first, async (client) => {
      expect((await client.query('SELECT count(*)::int AS n FROM data_plane.tenant_directory')).rows).toEqual(
        [{ n: expect.any(Number) }],
      );
    });
  }, 30_000);

  it("writes the endpoint into a secret made without one (the prerequisites stack's), keeping its password", async () => {
    const given = `given-${uniqueToken(12)}`;
    await new ControlPlaneSecrets(aws).create(
      secretName,
      { engine: 'postgres', username: dataPlaneRole(database.name), password: given },
      { tags: { 'silo:component': 'control-plane', 'silo:environment': 'test' }, description: 'by hand' },
    );
    const result = await ensureDataPlaneLogin(config);
    expect(result).toMatchObject({ createdSecret: false, updatedSecret: true });
    expect(await readLogin()).toEqual({
      engine: 'postgres',
      host: '127.0.0.1',
      port: 5432,
      dbname: database.name,
      username: dataPlaneRole(database.name),
      password: given,
    });
    expect(await storedPasswordIs(dataPlaneRole(database.name), given)).toBe(true);
  }, 30_000);

  it('refuses a secret of that name tagged for another environment, and leaves it as it was', async () => {
    const theirs = {
      engine: 'postgres',
      username: dataPlaneRole(database.name),
      password: `theirs-${uniqueToken(12)}`,
    };
    await new ControlPlaneSecrets(aws).create(secretName, theirs, {
      tags: { 'silo:component': 'control-plane', 'silo:environment': 'staging' },
      description: 'another control plane',
    });
    await expect(ensureDataPlaneLogin(config)).rejects.toThrow(
      `secret ${secretName} is tagged silo:environment=staging, not test: it is not this control plane's`,
    );
    expect(await readLogin()).toEqual(theirs);
    expect(await storedPasswordIs(dataPlaneRole(database.name), theirs.password)).toBe(false);
  }, 30_000);

  it('sends PostgreSQL a SCRAM verifier, never the password, and logs no password (migrate --data-plane-login)', async () => {
    // Every statement and parameter any pg client sends (the migrator's through TypeORM too).
    const sent: string[] = [];
    const original = Client.prototype.query;
    const query = jest.spyOn(Client.prototype, 'query').mockImplementation(function (
      this: Client,
      ...args: unknown[]
    ) {
      for (const arg of args) {
        if (typeof arg === 'string') sent.push(arg);
        else if (typeof arg === 'object' && arg !== null) sent.push(JSON.stringify(arg) ?? '');
      }
      return (original as (...a: unknown[]) => unknown).apply(this, args) as never;
    });
    const lines: string[] = [];
    const logConfig = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: config.resources.prefix,
      LOG_LEVEL: 'debug',
    });
    const log = pino(
      { ...loggerOptions(logConfig, 'migrate'), transport: undefined },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    try {
      const code = await runMigrate(
        { createDatabase: false, dataPlaneLogin: true, connectionLimit: 12 },
        logConfig,
        log,
      );
      expect(code).toBe(0);
    } finally {
      query.mockRestore();
    }
    const { password } = await readLogin();
    expect(lines.map((l) => JSON.parse(l) as { msg: string })).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ msg: 'schema already up to date' }),
        expect.objectContaining({
          msg: 'data-plane login ready',
          secret: secretName,
          createdSecret: true,
          connectionLimit: 12,
        }),
      ]),
    );
    expect(lines.join('\n')).not.toContain(password);
    const alter = sent.filter((s) => s.startsWith('ALTER ROLE'));
    expect(alter).toEqual([expect.stringMatching(/ CONNECTION LIMIT 12 PASSWORD 'SCRAM-SHA-256\$4096:/)]);
    expect(sent.join('\n')).not.toContain(password);

    // Nowhere in the control-plane database either: not in any table, nor as the stored password.
    await asAdmin(async (admin) => {
      const tables = await admin.query<{ name: string }>(
        `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
          WHERE table_schema IN ('public', 'data_plane')`,
      );
      for (const { name } of tables.rows) {
        const rows = await admin.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
        expect({ name, leaks: rows.rows.filter((r) => r.row.includes(password)) }).toEqual({
          name,
          leaks: [],
        });
      }
    });
    expect(await storedPasswordIs(dataPlaneRole(database.name), password)).toBe(true);
  }, 30_000);
});
