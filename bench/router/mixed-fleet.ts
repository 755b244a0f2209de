import { randomBytes, randomUUID } from 'node:crypto';
import type { TierName } from '@silo/core';
import type { TenantAppCredentials, TenantPlacement } from '@silo/tenant-router';
import {
  appLoginRoles,
  bootstrapAppRole,
  loadTenantMigrations,
  materialiseLocalInstance,
  migrateTenantSchema,
  type MigrationTarget,
  type PgEndpoint,
  type TenantMigrationSet,
} from '@silo/tenant-schema';
import { SUPERUSER } from './private-postgres';
import { insertNotes, withSuperuser, type FleetTenant } from './tenant-fleet';

/** Pool host databases of the mixed fleet. */
export const MIXED_POOL_HOSTS = 2;
/** Notes per tenant in the mixed fleet (1,000 per tenant would be 1.8 million rows in the pools). */
export const MIXED_NOTES_PER_TENANT = 100;
const MIGRATION_TIMEOUTS = { lockTimeoutMs: 10_000, statementTimeoutMs: 60_000 };

export type PlacementKind = TenantPlacement['kind'];
export const PLACEMENT_KINDS: readonly PlacementKind[] = ['pool', 'schema', 'instance'];
/** The tiers the default tier profiles give each placement (starter pooled, pro a schema, enterprise an instance). */
const TIER_OF: Record<PlacementKind, TierName> = { pool: 'starter', schema: 'pro', instance: 'enterprise' };

export interface MixedFleet {
  /** Pooled tenants first, then schema tenants, then instances. */
  tenants: FleetTenant[];
  counts: Record<PlacementKind, number>;
  /** Set-up time by part, ms. */
  ms: { pools: number; schemas: number; instances: number };
}

/** 90 % pooled, 9 % schema tenants, 1 % (at least one) instances. */
export function mixedCounts(tenants: number): Record<PlacementKind, number> {
  const instance = Math.max(1, Math.round(tenants * 0.01));
  const schema = Math.max(1, Math.round(tenants * 0.09));
  return { pool: tenants - schema - instance, schema, instance };
}

/**
 * The mixed fleet on the private cluster, every target made the way Silo makes it and migrated
 * with libs/tenant-schema's migrator and the built-in set:
 * - MIXED_POOL_HOSTS pool databases (materialiseLocalInstance stands for the host), each with its
 *   one pool login (bootstrapAppRole, no tenant) and one migration run into the pool target; the
 *   pooled tenants are rows only, shared round robin between the hosts;
 * - one schema host database holding every schema tenant, each with its own login (its
 *   search_path and app.tenant_id role defaults) and its own migration run into its schema;
 * - per instance tenant a database and owner of its own, its login, its migration run.
 * Every tenant gets MIXED_NOTES_PER_TENANT notes. Everything lives in the cluster, which the
 * bench removes at the end.
 */
export async function createMixedFleet(options: {
  port: number;
  tenants: number;
  concurrency: number;
  log: (line: string) => void;
  signal: AbortSignal;
}): Promise<MixedFleet> {
  const { port, log, signal } = options;
  const adminUrl = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
  const set = loadTenantMigrations();
  const counts = mixedCounts(options.tenants);
  const tenants: FleetTenant[] = [];
  const credentialsAt = (database: string, username: string, password: string): TenantAppCredentials => ({
    host: '127.0.0.1',
    port,
    dbname: database,
    username,
    password,
  });
  const makeTarget = async (database: string): Promise<PgEndpoint> => {
    const owner = { database, ownerRole: `${database}_owner`, ownerPassword: secret() };
    await materialiseLocalInstance(adminUrl, owner);
    return { host: '127.0.0.1', port, database, user: owner.ownerRole, password: owner.ownerPassword };
  };

  log(
    `mixed fleet: ${counts.pool} pooled tenants on ${MIXED_POOL_HOSTS} pool databases, ${counts.schema} schema ` +
      `tenants on one schema host, ${counts.instance} instances`,
  );
  let started = performance.now();
  const pooled = Array.from({ length: counts.pool }, (_, i) => i);
  for (let h = 0; h < MIXED_POOL_HOSTS; h++) {
    signal.throwIfAborted();
    const database = `bench_pool_${h + 1}`;
    const owner = await makeTarget(database);
    const role = `${database}_app`;
    const login = appLoginRoles(role)[0];
    const password = secret();
    await bootstrapAppRole(owner, { role, login, password, schema: 'app' });
    const schemaVersion = await migrate(owner, set, database, { placement: 'pool', schema: 'app' });
    const placement: TenantPlacement = {
      kind: 'pool',
      hostId: randomUUID(),
      hostName: `pool-starter-00${h + 1}`,
    };
    const ids: string[] = [];
    for (const i of pooled.filter((i) => i % MIXED_POOL_HOSTS === h)) {
      const id = randomUUID();
      ids.push(id);
      tenants.push(
        tenant(id, `p${pad(i)}`, placement, schemaVersion, credentialsAt(database, login, password)),
      );
    }
    await withSuperuser(port, database, (client) => insertNotes(client, 'app', ids, MIXED_NOTES_PER_TENANT));
  }
  const poolsMs = performance.now() - started;

  started = performance.now();
  const schemaHost = await makeTarget('bench_schema_1');
  const schemaTenants = Array.from({ length: counts.schema }, (_, i) => ({
    id: randomUUID(),
    slug: `s${pad(i)}`,
    password: secret(),
  }));
  let done = 0;
  const progress = setInterval(() => log(`  ${done} of ${counts.schema} schema tenants migrated`), 10_000);
  try {
    await inTurns(schemaTenants, options.concurrency, signal, async (t) => {
      const schema = `tenant_${t.slug}`;
      const role = `bench_${t.slug}_app`;
      await bootstrapAppRole(schemaHost, { role, password: t.password, schema, tenantId: t.id });
      const schemaVersion = await migrate(schemaHost, set, t.slug, {
        placement: 'schema',
        schema,
        tenantId: t.id,
      });
      await withSuperuser(port, schemaHost.database, (client) =>
        insertNotes(client, schema, t.id, MIXED_NOTES_PER_TENANT),
      );
      tenants.push(
        tenant(
          t.id,
          t.slug,
          { kind: 'schema', schema },
          schemaVersion,
          credentialsAt(schemaHost.database, role, t.password),
        ),
      );
      done++;
    });
  } finally {
    clearInterval(progress);
  }
  const schemasMs = performance.now() - started;

  started = performance.now();
  const instances = Array.from({ length: counts.instance }, (_, i) => ({
    id: randomUUID(),
    slug: `i${pad(i)}`,
    password: secret(),
  }));
  // One at a time: each makes an owner and grants it SET on app.tenant_id, one catalogue row.
  await inTurns(instances, 1, signal, async (t) => {
    const database = `bench_${t.slug}`;
    const owner = await makeTarget(database);
    const role = `${database}_app`;
    await bootstrapAppRole(owner, { role, password: t.password, tenantId: t.id });
    const schemaVersion = await migrate(owner, set, t.slug, {
      placement: 'instance',
      schema: 'app',
      tenantId: t.id,
    });
    await withSuperuser(port, database, (client) => insertNotes(client, 'app', t.id, MIXED_NOTES_PER_TENANT));
    tenants.push(
      tenant(t.id, t.slug, { kind: 'instance' }, schemaVersion, credentialsAt(database, role, t.password)),
    );
  });
  const instancesMs = performance.now() - started;

  const order = (t: FleetTenant) => PLACEMENT_KINDS.indexOf(placementOf(t));
  tenants.sort((x, y) => order(x) - order(y));
  return { tenants, counts, ms: { pools: poolsMs, schemas: schemasMs, instances: instancesMs } };
}

export function placementOf(t: FleetTenant): PlacementKind {
  return t.entry.placement?.kind ?? 'instance';
}

async function migrate(
  owner: PgEndpoint,
  set: TenantMigrationSet,
  name: string,
  into: MigrationTarget,
): Promise<string | null> {
  const { schemaVersion } = await migrateTenantSchema(owner, set, {
    ...MIGRATION_TIMEOUTS,
    appliedBy: 'bench',
    tenant: name,
    into,
  });
  return schemaVersion;
}

function tenant(
  id: string,
  slug: string,
  placement: TenantPlacement,
  schemaVersion: string | null,
  credentials: TenantAppCredentials,
): FleetTenant {
  return {
    entry: {
      id,
      slug,
      tier: TIER_OF[placement.kind],
      status: 'ACTIVE',
      schemaVersion,
      placement,
      region: null,
      routeVersion: 1,
      writesPaused: false,
    },
    credentials,
  };
}

/** `work` on every item, `concurrency` at a time, stopping at the first failure or the abort. */
async function inTurns<T>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        signal.throwIfAborted();
        await work(items[next++]);
      }
    }),
  );
}

function secret(): string {
  return randomBytes(24).toString('base64url');
}

function pad(i: number): string {
  return String(i).padStart(5, '0');
}
