import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mintDevToken } from '@silo/auth';
import { AwsClients, TenantSecrets } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import {
  APP_SCHEMA,
  hostName,
  hostResourceNames,
  hostTags,
  quoteIdentifier,
  tenantResourceNames,
  tenantTags,
  type Placement,
  type SharedPlacement,
  type TenantStatus,
  type TierName,
} from '@silo/core';
import {
  appLoginRoles,
  bootstrapAppRole,
  loadTenantMigrations,
  migrateTenantSchema,
  removeLocalInstance,
  type MigrationTarget,
  type PgEndpoint,
} from '@silo/tenant-schema';
import { Client } from 'pg';
import {
  applyBuiltInSchema,
  endpoint,
  TEST_MIGRATION_TIMEOUTS,
  withAdmin,
  withClient,
} from '../../../libs/tenant-schema/test/tenant-db-fixtures';
import { materialise } from '../../../libs/tenant-router/test/tenant-router-fixtures';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { loadConfig } from '@silo/config';
import { testDataPlaneLogin } from '../../../test/support/data-plane-login';
import { testEnvironment, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { configureExampleApp, EXAMPLE_APP_OPTIONS } from '../src/example-app';
import { exampleAppConfigFromEnv, type ExampleAppConfig } from '../src/example-app.config';
import { ExampleAppModule } from '../src/example-app.module';

/** Every placement the example app's tests run in, the same assertions in each. */
export const TEST_PLACEMENTS: readonly Placement[] = ['instance', 'schema', 'pool'];

/**
 * The example app as main.ts builds it, on an in-process server. `controllers` are mounted next
 * to the app's own (routes a test adds; the app's code is unchanged).
 */
export async function startExampleApp(
  config: ExampleAppConfig,
  extra: { controllers?: Type[] } = {},
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ExampleAppModule.register(config)],
    controllers: extra.controllers ?? [],
  }).compile();
  const app = configureExampleApp(moduleRef.createNestApplication(EXAMPLE_APP_OPTIONS), config);
  await app.init();
  return app;
}

/** A shared host as its create saga leaves it: `available`, its database made (and, for a pool, migrated). */
export interface TestHost {
  id: string;
  name: string;
  placement: SharedPlacement;
  tier: TierName;
  /** The host's master (owner) endpoint. */
  owner: PgEndpoint;
  /** A pool host's pool database version; null for a schema host. */
  schemaVersion: string | null;
}

/** A tenant as the worker leaves it, in any placement; the app reads it from the control plane. */
export interface TestTenant {
  id: string;
  slug: string;
  placement: Placement;
  /** The shared host it is placed on; null for an `instance` tenant. */
  host: TestHost | null;
  /**
   * The owner (RDS master) endpoint of the database its data is in (its own, or its host's), for
   * looking at its notes behind the app's back.
   */
  owner: PgEndpoint;
  /** Its notes table, qualified: `app.notes`, or `<its schema>.notes` on a schema host. */
  notesTable: string;
  /** `Authorization` header value of a tenant token for this tenant. */
  authorization: string;
  /** The schema version applied, recorded in `tenants.schema_version` as the worker records it. */
  schemaVersion: string | null;
}

interface CreateOptions {
  tier?: TierName;
  status?: TenantStatus;
  /**
   * The port its app secret names instead of the server's (an unreachable database). For a pooled
   * tenant the secret is its host's: it is placed on a host of its own whose pool login's secret
   * names this port.
   */
  databasePort?: number;
}

const newPassword = () => randomBytes(24).toString('base64url');

/** The owner a host's secrets carry: none (they are tagged for the host, not for a tenant). */
const NO_TENANT = undefined as unknown as string;

/**
 * Tenants on the test PostgreSQL server, their app secrets in the emulator and their rows in the
 * control plane, in one placement, as the worker leaves them (without running its sagas):
 *
 * - `instance`: a database and owner of its own (the local instance backend), the app role, the
 *   tenant migrations with the tenant set, `<prefix>/<slug>/app`;
 * - `schema`: placed on an `available` schema host of its tier; as SchemaPlacement's
 *   bootstrap-database and run-migrations steps do: its app secret (the host's endpoint, the first
 *   of its alternating logins) first, then its app role and login with its schema and its id as
 *   role defaults, then the migrations into its schema with the tenant set;
 * - `pool`: placed on an `available` pool host of its tier; nothing of its own anywhere (as
 *   PoolPlacement): its schema version is the pool database's. The host is made as its create
 *   saga's pool-role and migrate-pool steps make it: the host's `pool-app` secret, its pool app
 *   role and first login (no tenant), its pool database migrated once without a tenant. Of a
 *   host only what the data plane reaches is made: its row, database and pool login, not its
 *   master secret or alarms.
 *
 * Shared placements get a control-plane database and a resource prefix of their own (the hosts'
 * names are unique in a control plane, and another file's allocator must not place tenants on
 * these hosts). `dispose()` removes everything made.
 */
export class TenantFixtures {
  private readonly aws: AwsClients;
  private readonly secrets: TenantSecrets;
  private readonly instances: { id: string; database: string; roles: string[]; secret: string }[] = [];
  private readonly appSecrets: { id: string; name: string }[] = [];
  private readonly hostSecrets: string[] = [];
  private readonly tenantIds: string[] = [];
  private readonly hosts = new Map<string, Promise<TestHost>>();
  private readonly ordinals = new Map<string, number>();

  private constructor(
    readonly placement: Placement,
    /** The environment of the control plane these fixtures stand for. */
    private readonly env: Record<string, string>,
    readonly config: SiloConfig,
    /** A shared placement's own control-plane database. */
    private readonly ownDatabase: { name: string; url: string } | null,
  ) {
    this.aws = new AwsClients(config);
    this.secrets = new TenantSecrets(this.aws);
  }

  /** Fixtures for `placement`, with the test configuration and `overrides`; `appConfig()` is the example app's. */
  static async start(placement: Placement, overrides: Record<string, string> = {}): Promise<TenantFixtures> {
    const database = placement === 'instance' ? null : await createOwnDatabase('exampleapp');
    const env = testEnvironment({
      ...overrides,
      ...(database ? { DATABASE_URL: database.url, SILO_RESOURCE_PREFIX: `ex${uniqueToken(3)}` } : {}),
    });
    const config = loadConfig({ env, envFile: false });
    // What an application team is given: the data plane's own login to the directory.
    const secret = await testDataPlaneLogin(env);
    return new TenantFixtures(placement, { ...env, TENANT_DIRECTORY_SECRET: secret }, config, database);
  }

  /**
   * The example app's configuration as an application team writes it: the data plane's
   * variables (the control plane's with its database URL taken out) and `overrides`.
   */
  appConfig(overrides: Record<string, string> = {}): ExampleAppConfig {
    const { DATABASE_URL: _controlPlaneOnly, ...env } = this.env;
    return exampleAppConfigFromEnv({ TENANT_DIRECTORY_SSL: 'disable', ...env, ...overrides }, false);
  }

  private get prefix(): string {
    return this.config.resources.prefix;
  }

  async create(options: CreateOptions = {}): Promise<TestTenant> {
    const slug = `ex-${uniqueToken()}`;
    const tier = options.tier ?? 'starter';
    const status = options.status ?? 'ACTIVE';
    switch (this.placement) {
      case 'instance':
        return this.createOnInstance(slug, tier, status, options.databasePort);
      case 'schema':
        return this.createInSchema(slug, tier, status, options.databasePort);
      case 'pool':
        return this.createInPool(slug, tier, status, options.databasePort);
    }
  }

  private async createOnInstance(
    slug: string,
    tier: TierName,
    status: TenantStatus,
    databasePort: number | undefined,
  ): Promise<TestTenant> {
    const names = tenantResourceNames(this.prefix, slug);
    const id = await this.insertTenant(slug, tier, status, {
      dbInstanceIdentifier: names.instanceIdentifier,
    });
    this.instances.push({
      id,
      database: names.instanceIdentifier,
      roles: [names.appRole, names.masterUsername],
      secret: names.appSecretName,
    });

    const owner = endpoint(names.instanceIdentifier, names.masterUsername, newPassword());
    const appPassword = newPassword();
    await materialise({ database: owner.database, ownerRole: owner.user, ownerPassword: owner.password });
    await bootstrapAppRole(owner, { role: names.appRole, password: appPassword, tenantId: id });
    const { schemaVersion } = await applyBuiltInSchema(owner, id);
    await this.setSchemaVersion(id, schemaVersion);
    await this.secrets.create(
      names.appSecretName,
      {
        engine: 'postgres',
        host: owner.host,
        port: databasePort ?? owner.port,
        dbname: owner.database,
        username: names.appRole,
        password: appPassword,
        dbInstanceIdentifier: names.instanceIdentifier,
      },
      { tags: tenantTags({ id, slug, tier }, this.config.resources.environment), ownerTenantId: id },
    );
    return this.tenant({ id, slug, host: null, owner, notesTable: `${APP_SCHEMA}.notes`, schemaVersion });
  }

  private async createInSchema(
    slug: string,
    tier: TierName,
    status: TenantStatus,
    databasePort: number | undefined,
  ): Promise<TestTenant> {
    const host = await this.host('schema', tier);
    const names = tenantResourceNames(this.prefix, slug);
    const id = await this.insertTenant(slug, tier, status, { host });
    const [login] = appLoginRoles(names.appRole);
    const password = newPassword();
    this.appSecrets.push({ id, name: names.appSecretName });
    await this.secrets.create(
      names.appSecretName,
      {
        engine: 'postgres',
        host: host.owner.host,
        port: databasePort ?? host.owner.port,
        dbname: host.owner.database,
        dbInstanceIdentifier: hostResourceNames(this.prefix, host.name).instanceIdentifier,
        username: login,
        password,
      },
      { tags: tenantTags({ id, slug, tier }, this.config.resources.environment), ownerTenantId: id },
    );
    await bootstrapAppRole(host.owner, {
      role: names.appRole,
      login,
      password,
      schema: names.tenantSchema,
      tenantId: id,
    });
    const { schemaVersion } = await this.migrate(host.owner, slug, {
      placement: 'schema',
      schema: names.tenantSchema,
      tenantId: id,
    });
    await this.setSchemaVersion(id, schemaVersion);
    return this.tenant({
      id,
      slug,
      host,
      owner: host.owner,
      notesTable: `${quoteIdentifier(names.tenantSchema)}.notes`,
      schemaVersion,
    });
  }

  private async createInPool(
    slug: string,
    tier: TierName,
    status: TenantStatus,
    databasePort: number | undefined,
  ): Promise<TestTenant> {
    const host = await this.host('pool', tier, databasePort);
    const id = await this.insertTenant(slug, tier, status, { host });
    await this.setSchemaVersion(id, host.schemaVersion);
    return this.tenant({
      id,
      slug,
      host,
      owner: host.owner,
      notesTable: `${APP_SCHEMA}.notes`,
      schemaVersion: host.schemaVersion,
    });
  }

  private async tenant(t: Omit<TestTenant, 'placement' | 'authorization'>): Promise<TestTenant> {
    return { ...t, placement: this.placement, authorization: await this.authorization(t.id, t.slug) };
  }

  /** The host of `placement` and `tier` (one per unreachable port asked for), made once. */
  private host(placement: SharedPlacement, tier: TierName, databasePort?: number): Promise<TestHost> {
    const key = `${placement}/${tier}/${databasePort ?? ''}`;
    let host = this.hosts.get(key);
    if (host === undefined) {
      host = this.makeHost(placement, tier, databasePort);
      this.hosts.set(key, host);
    }
    return host;
  }

  private async makeHost(
    placement: SharedPlacement,
    tier: TierName,
    databasePort: number | undefined,
  ): Promise<TestHost> {
    const ordinal = (this.ordinals.get(`${placement}/${tier}`) ?? 0) + 1;
    this.ordinals.set(`${placement}/${tier}`, ordinal);
    const id = randomUUID();
    const name = hostName(placement, tier, ordinal);
    const names = hostResourceNames(this.prefix, name);
    const owner = endpoint(names.instanceIdentifier, names.masterUsername, newPassword());
    await materialise({ database: owner.database, ownerRole: owner.user, ownerPassword: owner.password });
    let schemaVersion: string | null = null;
    if (placement === 'pool') {
      const [login] = appLoginRoles(names.poolAppRole);
      const password = newPassword();
      this.hostSecrets.push(names.poolAppSecretName);
      await this.secrets.create(
        names.poolAppSecretName,
        {
          engine: 'postgres',
          host: owner.host,
          port: databasePort ?? owner.port,
          dbname: owner.database,
          dbInstanceIdentifier: names.instanceIdentifier,
          username: login,
          password,
        },
        {
          tags: hostTags({ id, name, placement, tier }, this.config.resources.environment),
          ownerTenantId: id,
        },
      );
      await bootstrapAppRole(owner, { role: names.poolAppRole, login, password });
      ({ schemaVersion } = await this.migrate(owner, name, { placement: 'pool', schema: APP_SCHEMA }));
    }
    await this.controlPlane((db) =>
      db.query(
        `INSERT INTO hosts (id, name, placement, tier, ordinal, status, instance_identifier, endpoint_host,
                            endpoint_port, database_name, capacity_tenants, connection_budget, schema_version)
         VALUES ($1, $2, $3, $4, $5, 'available', $6, $7, $8, 'silo', 1000, 100, $9)`,
        [id, name, placement, tier, ordinal, names.instanceIdentifier, owner.host, owner.port, schemaVersion],
      ),
    );
    return { id, name, placement, tier, owner, schemaVersion };
  }

  private migrate(owner: PgEndpoint, tenant: string, into: MigrationTarget) {
    return migrateTenantSchema(owner, loadTenantMigrations(), {
      ...TEST_MIGRATION_TIMEOUTS,
      appliedBy: 'provision',
      tenant,
      into,
    });
  }

  private async insertTenant(
    slug: string,
    tier: TierName,
    status: TenantStatus,
    where: { dbInstanceIdentifier: string } | { host: TestHost },
  ): Promise<string> {
    const id = await this.controlPlane(async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO tenants (slug, name, tier, status, placement, db_instance_identifier, host_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
        [
          slug,
          `Example ${slug}`,
          tier,
          status,
          this.placement,
          'dbInstanceIdentifier' in where ? where.dbInstanceIdentifier : null,
          'host' in where ? where.host.id : null,
        ],
      );
      return rows[0].id;
    });
    this.tenantIds.push(id);
    return id;
  }

  /** A tenant token (claim `tenant_id`) as `npm run token -- --tenant` mints it. */
  async authorization(tenantId: string, slug = 'someone'): Promise<string> {
    const { jwtSecret, issuer, tenantAudience } = this.config.auth;
    return `Bearer ${await mintDevToken({ secret: jwtSecret!, sub: `tenant-app:${slug}`, tenantId, issuer, audience: tenantAudience })}`;
  }

  async setStatus(tenantId: string, status: TenantStatus): Promise<void> {
    await this.controlPlane((db) =>
      db.query('UPDATE tenants SET status = $2 WHERE id = $1', [tenantId, status]),
    );
  }

  async setSchemaVersion(tenantId: string, schemaVersion: string | null): Promise<void> {
    await this.controlPlane((db) =>
      db.query('UPDATE tenants SET schema_version = $2 WHERE id = $1', [tenantId, schemaVersion]),
    );
  }

  /**
   * The tenant's notes as they are where its data lives (its database, its schema, or the pool's
   * table), read as that database's owner, oldest first (row-level security binds the owner too:
   * the tenant is set for the read).
   */
  async notesInDatabase(tenant: TestTenant): Promise<string[]> {
    return withClient(tenant.owner, async (client) => {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenant.id]);
      const { rows } = await client.query<{ text: string }>(
        `SELECT text FROM ${tenant.notesTable} ORDER BY created_at`,
      );
      await client.query('COMMIT');
      return rows.map((r) => r.text);
    });
  }

  /** Every row of a pool host's notes table, whoever's, read past row-level security (as a superuser). */
  async poolRows(host: TestHost): Promise<{ tenantId: string; text: string }[]> {
    if (host.placement !== 'pool') throw new Error(`${host.name} is not a pool host`);
    return withAdmin(async (admin) => {
      const { rows } = await admin.query<{ tenant_id: string; text: string }>(
        `SELECT tenant_id, text FROM ${APP_SCHEMA}.notes ORDER BY created_at, id`,
      );
      return rows.map((r) => ({ tenantId: r.tenant_id, text: r.text }));
    }, host.owner.database);
  }

  /**
   * Runs `work` connected as a pool host's pool login, from its `pool-app` secret, as the router
   * connects (search path `app`, no tenant set).
   */
  async asPoolLogin<T>(host: TestHost, work: (client: Client) => Promise<T>): Promise<T> {
    const secret = await this.secrets.read(hostResourceNames(this.prefix, host.name).poolAppSecretName);
    if (!secret) throw new Error(`${host.name} has no pool-app secret`);
    const login = endpoint(String(secret.dbname), String(secret.username), String(secret.password));
    return withClient(login, async (client) => {
      await client.query(`SET search_path = ${APP_SCHEMA}`);
      return work(client);
    });
  }

  async dispose(): Promise<void> {
    for (const t of this.instances) {
      await removeLocalInstance(instanceAdminUrl(), { database: t.database, roles: t.roles });
      await this.secrets.delete(t.secret, { force: true }, t.id);
    }
    for (const s of this.appSecrets) await this.secrets.delete(s.name, { force: true }, s.id);
    // Tagged for its host and no tenant: deleted as the host's own deletion does (HostAwsResources).
    for (const name of this.hostSecrets) {
      if ((await this.secrets.delete(name, { force: true }, NO_TENANT)) === 'not-ours')
        throw new Error(`secret ${name} is not tagged as a host's: left in place`);
    }
    if (this.ownDatabase) {
      await removeTenantInstancesUnder(this.prefix);
      await dropDatabase(this.ownDatabase.name);
    } else if (this.tenantIds.length) {
      await this.controlPlane((db) =>
        db.query(`DELETE FROM tenants WHERE id = ANY($1::uuid[])`, [this.tenantIds]),
      );
    }
    this.aws.onApplicationShutdown();
  }

  private async controlPlane<T>(work: (db: Client) => Promise<T>): Promise<T> {
    const db = new Client({ connectionString: this.config.database.url });
    await db.connect();
    try {
      return await work(db);
    } finally {
      await db.end();
    }
  }
}
