import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mintDevToken } from '@silo/auth';
import { AwsClients, TenantSecrets } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { tenantResourceNames, tenantTags, type TenantStatus, type TierName } from '@silo/core';
import { bootstrapAppRole, removeLocalInstance, type PgEndpoint } from '@silo/tenant-schema';
import { Client } from 'pg';
import {
  applyBuiltInSchema,
  endpoint,
  withClient,
} from '../../../libs/tenant-schema/test/tenant-db-fixtures';
import { materialise } from '../../../libs/tenant-router/test/tenant-router-fixtures';
import { uniqueToken } from '../../../test/support/test-config';
import { testServices } from '../../../test/support/test-services';
import { configureExampleApp, EXAMPLE_APP_OPTIONS } from '../src/example-app';
import { ExampleAppModule } from '../src/example-app.module';

/** The example app as main.ts builds it, on an in-process server. */
export async function startExampleApp(config: SiloConfig): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ExampleAppModule.register(config)],
  }).compile();
  const app = configureExampleApp(moduleRef.createNestApplication(EXAMPLE_APP_OPTIONS), config);
  await app.init();
  return app;
}

/** A tenant as the worker leaves it: control-plane row, local database, migrated, app role, app secret. */
export interface TestTenant {
  id: string;
  slug: string;
  /** The owner (RDS master) endpoint, for looking into the tenant database behind the app's back. */
  owner: PgEndpoint;
  /** `Authorization` header value of a tenant token for this tenant. */
  authorization: string;
  /** The schema version applied, recorded in `tenants.schema_version` as the worker records it. */
  schemaVersion: string | null;
}

/**
 * Materialises tenants on the test PostgreSQL server and writes their app secrets into the
 * emulator, the way provisioning does, without running the saga. `dispose()` removes them all.
 */
export class TenantFixtures {
  private readonly aws: AwsClients;
  private readonly secrets: TenantSecrets;
  private readonly made: { id: string; slug: string; database: string; roles: string[]; secret: string }[] =
    [];

  constructor(private readonly config: SiloConfig) {
    this.aws = new AwsClients(config);
    this.secrets = new TenantSecrets(this.aws);
  }

  async create(
    options: { tier?: TierName; status?: TenantStatus; databasePort?: number } = {},
  ): Promise<TestTenant> {
    const slug = `ex-${uniqueToken()}`;
    const tier = options.tier ?? 'starter';
    const names = tenantResourceNames(this.config.resources.prefix, slug);
    const id = await this.controlPlane(async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO tenants (slug, name, tier, status, db_instance_identifier) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
        [slug, `Example ${slug}`, tier, options.status ?? 'ACTIVE', names.instanceIdentifier],
      );
      return rows[0].id;
    });
    const record = {
      id,
      slug,
      database: names.instanceIdentifier,
      roles: [names.appRole, names.masterUsername],
      secret: names.appSecretName,
    };
    this.made.push(record);

    const owner = endpoint(
      names.instanceIdentifier,
      names.masterUsername,
      randomBytes(24).toString('base64url'),
    );
    const { host, port } = owner;
    const appPassword = randomBytes(24).toString('base64url');
    await materialise({
      database: owner.database,
      ownerRole: owner.user,
      ownerPassword: owner.password,
    });
    await bootstrapAppRole(owner, { role: names.appRole, password: appPassword, tenantId: id });
    const { schemaVersion } = await applyBuiltInSchema(owner, id);
    await this.setSchemaVersion(id, schemaVersion);
    await this.secrets.create(
      names.appSecretName,
      {
        engine: 'postgres',
        host,
        port: options.databasePort ?? port,
        dbname: owner.database,
        username: names.appRole,
        password: appPassword,
        dbInstanceIdentifier: names.instanceIdentifier,
      },
      { tags: tenantTags({ id, slug, tier }, this.config.resources.environment), ownerTenantId: id },
    );
    return { id, slug, owner, authorization: await this.authorization(id, slug), schemaVersion };
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
   * Notes as they are in the tenant's own database, read as its owner (row-level security binds
   * the owner too: the tenant is set for the read).
   */
  async notesInDatabase(tenant: TestTenant): Promise<string[]> {
    return withClient(tenant.owner, async (client) => {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenant.id]);
      const { rows } = await client.query<{ text: string }>('SELECT text FROM app.notes ORDER BY created_at');
      await client.query('COMMIT');
      return rows.map((r) => r.text);
    });
  }

  async dispose(): Promise<void> {
    for (const t of this.made) {
      await removeLocalInstance(testServices.postgresAdminUrl, { database: t.database, roles: t.roles });
      await this.secrets.delete(t.secret, { force: true }, t.id);
    }
    if (this.made.length) {
      await this.controlPlane((db) =>
        db.query(`DELETE FROM tenants WHERE id = ANY($1::uuid[])`, [this.made.map((t) => t.id)]),
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
