import { randomBytes, randomUUID } from 'node:crypto';
import { TenantSecrets } from '@silo/aws';
import { TenantEntity } from '@silo/control-plane-db';
import { tenantResourceNames, tenantTags, type TierName } from '@silo/core';
import {
  materialiseLocalInstance,
  migrateTenantSchema,
  type PgEndpoint,
  type TenantMigrationSet,
} from '@silo/tenant-schema';
import type { DataSource } from 'typeorm';
import { removeTenantInstance } from '../../../test/support/local-tenant-instance';
import { instanceAdminUrl } from '../../../test/support/test-services';

/** A tenant as the provisioning saga leaves it, at some schema version, without going through AWS instances. */
export interface FleetTenant {
  id: string;
  slug: string;
  tier: TierName;
  owner: PgEndpoint;
}

/**
 * `count` ACTIVE tenants of `tier` on the local instance backend: database and owner role, the
 * master secret in the emulator, the schema migrated to `version` of `set`, and the control-plane
 * row with that version. Created one second apart (in `createdAt`) so that rollouts order them
 * as listed. `registry` gets each before it is made, for the teardown.
 */
export async function createFleet(options: {
  dataSource: DataSource;
  secrets: TenantSecrets;
  prefix: string;
  environment: string;
  tier: TierName;
  count: number;
  version: string;
  set: TenantMigrationSet;
  registry: FleetTenant[];
  concurrency?: number;
  /** The server of the local instance backend. Default the run's cluster (instanceAdminUrl()). */
  adminUrl?: string;
}): Promise<FleetTenant[]> {
  const adminUrl = options.adminUrl ?? instanceAdminUrl();
  const admin = new URL(adminUrl);
  const base = Date.now() - 86_400_000;
  const made: FleetTenant[] = Array.from({ length: options.count }, (_, i) => {
    const slug = `${options.tier.slice(0, 2)}${randomBytes(3).toString('hex')}-${i}`;
    const names = tenantResourceNames(options.prefix, slug);
    return {
      id: randomUUID(),
      slug,
      tier: options.tier,
      owner: {
        host: admin.hostname,
        port: Number(admin.port || 5432),
        database: names.instanceIdentifier,
        user: names.masterUsername,
        password: randomBytes(18).toString('base64url'),
        connectTimeoutMs: 3000,
      },
    };
  });
  options.registry.push(...made);
  const queue = [...made.entries()];
  const workers = Array.from({ length: options.concurrency ?? 6 }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [i, t] = next;
      const names = tenantResourceNames(options.prefix, t.slug);
      await materialiseLocalInstance(adminUrl, {
        database: t.owner.database,
        ownerRole: t.owner.user,
        ownerPassword: t.owner.password,
      });
      await migrateTenantSchema(t.owner, options.set, {
        target: options.version,
        lockTimeoutMs: 3000,
        statementTimeoutMs: 30_000,
        appliedBy: 'fixture',
        tenant: t.slug,
      });
      await options.secrets.create(
        names.masterSecretName,
        { engine: 'postgres', username: t.owner.user, password: t.owner.password },
        {
          tags: tenantTags({ id: t.id, slug: t.slug, tier: t.tier }, options.environment),
          ownerTenantId: t.id,
        },
      );
      await options.dataSource.getRepository(TenantEntity).insert({
        id: t.id,
        slug: t.slug,
        name: `fleet tenant ${i}`,
        tier: t.tier,
        status: 'ACTIVE',
        createdBy: 'fixture',
        createdAt: new Date(base + i * 1000),
        dbInstanceIdentifier: names.instanceIdentifier,
        dbEndpointHost: t.owner.host,
        dbEndpointPort: t.owner.port,
        dbName: t.owner.database,
        schemaVersion: options.version,
      });
    }
  });
  await Promise.all(workers);
  return made;
}

export async function dropFleet(prefix: string, tenants: FleetTenant[]): Promise<void> {
  for (const t of tenants) await removeTenantInstance(prefix, t.slug).catch(() => undefined);
}
