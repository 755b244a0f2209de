import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { quoteIdentifier, type TenantStatus, type TierName } from '@silo/core';
import { bootstrapAppRole, materialiseLocalInstance, type LocalInstance } from '@silo/tenant-schema';
import {
  adminUrl,
  applyBuiltInSchema,
  appEndpoint,
  newTestTenant,
  ownerEndpoint,
  withAdmin,
  type TestTenant,
} from '../../tenant-schema/test/tenant-db-fixtures';
import {
  TENANT_ROUTER_APPLICATION_NAME,
  type TenantAppCredentials,
  type TenantCredentialSource,
  type TenantDirectory,
  type TenantDirectoryEntry,
  type TenantPlacement,
} from '../src';

export { adminUrl, withAdmin, type TestTenant } from '../../tenant-schema/test/tenant-db-fixtures';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let materialising: Promise<unknown> = Promise.resolve();

/**
 * materialiseLocalInstance, one at a time in this process, and again when the server reports
 * `tuple concurrently updated`: its `GRANT SET ON PARAMETER app.tenant_id` updates one catalogue
 * row that every owner's grant shares, which concurrent grants (other test files) collide on.
 */
export function materialise(instance: LocalInstance): Promise<void> {
  const run = materialising.then(async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await materialiseLocalInstance(adminUrl, instance);
      } catch (error) {
        if (attempt === 10 || !/tuple concurrently updated/.test(String((error as Error).message)))
          throw error;
        await sleep(20 * attempt);
      }
    }
  });
  materialising = run.catch(() => undefined);
  return run;
}

/**
 * `count` tenant databases as the provisioning saga leaves them: owner role and database, the
 * app role (LOGIN, DML on app.*), the tenant migrations (app.notes). `concurrency` are made at
 * once (CREATE DATABASE itself is serialised by the server); `registry` gets them all first, so
 * the teardown drops whatever was made.
 */
export async function createTenantDatabases(
  count: number,
  registry: TestTenant[],
  concurrency = 8,
): Promise<TestTenant[]> {
  const tenants = Array.from({ length: count }, () => newTestTenant(registry));
  await inParallel(tenants, concurrency, async (t) => {
    await materialise(t);
    await bootstrapAppRole(ownerEndpoint(t), { role: t.appRole, password: t.appPassword });
    await applyBuiltInSchema(ownerEndpoint(t));
  });
  return tenants;
}

/**
 * Drops the tenants' databases, then their roles (`extraRoles` first: logins, roles of other
 * schemas). The drops run on several sessions at once: each DROP DATABASE waits for a
 * checkpoint, and concurrent ones share it.
 */
export async function dropTenantDatabases(
  tenants: TestTenant[],
  sessions = 17,
  extraRoles: string[] = [],
): Promise<void> {
  await inParallel(tenants, sessions, (t) =>
    withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(t.database)} WITH (FORCE)`)),
  );
  await withAdmin(async (admin) => {
    const roles = [...extraRoles, ...tenants.flatMap((t) => [t.appRole, t.ownerRole])];
    const { rows } = await admin.query<{ v: number }>(
      `SELECT current_setting('server_version_num')::int AS v`,
    );
    for (const role of roles) {
      const found = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (!found.rowCount) continue;
      // From PostgreSQL 15 an owner may SET app.tenant_id as a role default (materialiseLocalInstance
      // grants it), which would block DROP ROLE.
      if (rows[0].v >= 150000)
        await admin.query(`REVOKE ALL ON PARAMETER app.tenant_id FROM ${quoteIdentifier(role)}`);
      await admin.query(`DROP ROLE ${quoteIdentifier(role)}`);
    }
  });
}

/** Runs `work` on every item, `concurrency` at a time; rejects with the first failure once all settled. */
async function inParallel<T>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  const queue = items.slice();
  const failures: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift())
        await work(item).catch((error: unknown) => failures.push(error));
    }),
  );
  if (failures.length > 0) throw failures[0];
}

const tenantIds = new WeakMap<object, string>();

/**
 * The control-plane id of a test tenant (or of anything standing for one): a uuid, as the
 * control plane's are, so it can be `app.tenant_id`; the same for the same object.
 */
export function tenantIdOf(t: object): string {
  let id = tenantIds.get(t);
  if (id === undefined) {
    id = randomUUID();
    tenantIds.set(t, id);
  }
  return id;
}

/** True when the server refuses a wrong password (false: it trusts loopback connections). */
export async function serverChecksPasswords(t: TestTenant): Promise<boolean> {
  const at = appEndpoint(t);
  const client = new Client({ ...at, password: `${at.password}-wrong`, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end();
    return false;
  } catch (error) {
    if ((error as { code?: unknown }).code === '28P01') return true;
    throw error;
  }
}

/** The control plane as the router sees it; counts lookups. */
export class FakeTenantDirectory implements TenantDirectory {
  finds = 0;
  private readonly entries = new Map<string, TenantDirectoryEntry>();

  add(
    id: string,
    status: TenantStatus = 'ACTIVE',
    tier: TierName = 'starter',
    placement: TenantPlacement = { kind: 'instance' },
  ): void {
    this.entries.set(id, {
      id,
      slug: id,
      tier,
      status,
      schemaVersion: '0001',
      placement,
      region: null,
      routeVersion: 1,
      writesPaused: false,
    });
  }

  /** What the directory answers for the tenant from now on (a move: writesPaused, routeVersion). */
  patch(id: string, fields: Partial<TenantDirectoryEntry>): void {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`no tenant ${id}`);
    this.entries.set(id, { ...entry, ...fields });
  }

  setStatus(id: string, status: TenantStatus): void {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`no tenant ${id}`);
    this.entries.set(id, { ...entry, status });
  }

  async find(tenantId: string): Promise<TenantDirectoryEntry | null> {
    this.finds++;
    await sleep(2);
    return this.entries.get(tenantId) ?? null;
  }
}

/**
 * Secrets Manager as the router sees it: `silo/<slug>/app` by slug, and a pooled tenant's host's
 * `silo/hosts/<name>/pool-app` by host name; counts fetches.
 */
export class FakeAppSecrets implements TenantCredentialSource {
  fetches = 0;
  private readonly secrets = new Map<string, TenantAppCredentials>();

  put(slug: string, credentials: TenantAppCredentials): void {
    this.secrets.set(slug, credentials);
  }

  /** The pool login secret of host `hostName`. */
  putHost(hostName: string, credentials: TenantAppCredentials): void {
    this.secrets.set(`hosts/${hostName}`, credentials);
  }

  setPassword(slug: string, password: string): void {
    this.secrets.set(slug, { ...this.secrets.get(slug)!, password });
  }

  async fetch(tenant: TenantDirectoryEntry): Promise<TenantAppCredentials> {
    this.fetches++;
    await sleep(5);
    const key = tenant.placement?.kind === 'pool' ? `hosts/${tenant.placement.hostName}` : tenant.slug;
    const secret = this.secrets.get(key);
    if (!secret) throw new Error(`no secret silo/${key}`);
    return { ...secret };
  }
}

/**
 * Samples, until stopped, how many server sessions the router holds for the given roles
 * (pg_stat_activity, by the router's application_name), keeping the highest count seen.
 */
export class RouterSessionSampler {
  max = 0;
  samples = 0;
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  private readonly client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 });

  constructor(private readonly roles: string[]) {}

  async start(): Promise<void> {
    await this.client.connect();
    this.loop = (async () => {
      while (this.running) {
        const result = await this.client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND usename = ANY($2)`,
          [TENANT_ROUTER_APPLICATION_NAME, this.roles],
        );
        this.max = Math.max(this.max, result.rows[0].n);
        this.samples++;
        await sleep(5);
      }
    })();
  }

  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    await this.client.end();
    return this.max;
  }
}
