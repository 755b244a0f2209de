import { tenantRouteChannel } from '@silo/core/tenant/tenant-route-signal';
import { NoteEntity } from '@silo/tenant-schema';
import IORedis, { type Redis } from 'ioredis';
import { testServices } from '../../../test/support/test-services';
import { uniqueToken } from '../../../test/support/test-config';
import {
  TenantAccessError,
  TenantAccessErrorCode,
  tenantAccessAnswer,
  TenantRouter,
  type TenantAppCredentials,
  type TenantRouterOptions,
} from '../src';
import {
  createTenantDatabases,
  dropTenantDatabases,
  FakeAppSecrets,
  FakeTenantDirectory,
  adminUrl,
  tenantIdOf,
  withAdmin,
  type TestTenant,
} from './tenant-router-fixtures';

jest.setTimeout(60_000);

// A tenant moved from database A to database B as the control plane's cut-over does it: its
// writes paused in the directory (and a route signal), the source frozen (a guard trigger that
// refuses the tenant's writes with 25006), then the route switched (route version + 1, the
// secret naming B) and the writes resumed (another signal).
const registry: TestTenant[] = [];
let databases: TestTenant[];
let redis: Redis;
const routers: TenantRouter[] = [];

beforeAll(async () => {
  databases = await createTenantDatabases(4, registry);
  redis = new IORedis(testServices.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
}, 120_000);

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await redis?.quit();
  await dropTenantDatabases(registry);
}, 60_000);

function loginOf(t: TestTenant): TenantAppCredentials {
  const server = new URL(adminUrl);
  return {
    host: server.hostname,
    port: Number(server.port),
    dbname: t.database,
    username: t.appRole,
    password: t.appPassword,
  };
}

function newRouter(
  directory: FakeTenantDirectory,
  secrets: FakeAppSecrets,
  overrides: Partial<TenantRouterOptions> = {},
): TenantRouter {
  const router = new TenantRouter(directory, secrets, {
    entities: [NoteEntity],
    maxDataSources: 10,
    connectionBudget: 10,
    poolSizeByTier: { starter: 2, pro: 2, enterprise: 2 },
    idleTimeoutMs: 60_000,
    connectionTimeoutMs: 5_000,
    // Long: only the signals, the pause's polls and a refused write make the router look again.
    statusTtlMs: 600_000,
    secretTtlMs: 600_000,
    failureBackoffMs: 200,
    ssl: false,
    ...overrides,
  });
  routers.push(router);
  return router;
}

const write = (router: TenantRouter, tenantId: string, text: string) =>
  router.transaction(tenantId, (manager) => manager.getRepository(NoteEntity).save({ text }));

/** The notes in a database, as its superuser sees them (all tenants'). */
async function notesIn(t: TestTenant): Promise<string[]> {
  return withAdmin(async (admin) => {
    const { rows } = await admin.query<{ text: string }>('SELECT text FROM app.notes ORDER BY text');
    return rows.map((r) => r.text);
  }, t.database);
}

/** The source's guard from now on: every write of the tenant there is refused with 25006. */
async function freeze(t: TestTenant): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.query(`
      CREATE FUNCTION app.refuse_moved_writes() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'tenant % is moving: its writes are paused here', current_setting('app.tenant_id', true)
          USING ERRCODE = '25006';
      END $$`);
    await admin.query(
      'CREATE TRIGGER refuse_moved_writes BEFORE INSERT OR UPDATE OR DELETE ON app.notes FOR EACH ROW EXECUTE FUNCTION app.refuse_moved_writes()',
    );
  }, t.database);
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; !(await condition()); i++) {
    if (i === 500) throw new Error('the condition never held');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('A tenant moving between databases', () => {
  it('holds its writes while paused and lands every one of them in the new database once switched, none in the old', async () => {
    const [a, b] = databases;
    const tenant = tenantIdOf(a);
    const directory = new FakeTenantDirectory();
    const secrets = new FakeAppSecrets();
    directory.add(tenant);
    secrets.put(tenant, loginOf(a));
    const prefix = `mv${uniqueToken()}`;
    const router = newRouter(directory, secrets, {
      movePauseWaitMs: 30_000,
      routeSignals: { redis, resourcePrefix: prefix },
    });
    const publish = (routeVersion: number, writesPaused: boolean) =>
      redis.publish(
        tenantRouteChannel(prefix),
        JSON.stringify({ tenantId: tenant, routeVersion, writesPaused }),
      );

    // The subscription is up once a published signal is heard.
    await until(async () => {
      await publish(1, false);
      return router.stats().moves.signals > 0;
    });
    await write(router, tenant, 'before the move');
    expect(await notesIn(a)).toEqual(['before the move']);

    // The cut-over pauses the tenant's writes: the router hears it and looks the tenant up.
    const signalsBefore = router.stats().moves.signals;
    const findsBefore = directory.finds;
    directory.patch(tenant, { writesPaused: true });
    await publish(1, true);
    await until(() => router.stats().moves.signals > signalsBefore && directory.finds > findsBefore);

    const landed: string[] = [];
    const waiting = Array.from({ length: 5 }, (_, i) =>
      write(router, tenant, `during the pause ${i}`).then(() => landed.push(`during the pause ${i}`)),
    );
    // They wait, polling the directory, and take no connection: nothing of theirs is anywhere.
    await until(() => router.stats().moves.pauseWaits === 5);
    const findsWhileWaiting = directory.finds;
    await until(() => directory.finds >= findsWhileWaiting + 2);
    expect(landed).toEqual([]);
    expect(router.stats().leases).toBe(0);

    // The source is frozen, the copy caught up, the route switched to B, writes resumed.
    await freeze(a);
    secrets.put(tenant, loginOf(b));
    directory.patch(tenant, { writesPaused: false, routeVersion: 2 });
    await publish(2, false);
    await Promise.all(waiting);
    await write(router, tenant, 'after the move');

    expect(landed.sort()).toEqual(Array.from({ length: 5 }, (_, i) => `during the pause ${i}`));
    expect(await notesIn(b)).toEqual([
      'after the move',
      ...Array.from({ length: 5 }, (_, i) => `during the pause ${i}`),
    ]);
    expect(await notesIn(a)).toEqual(['before the move']);
    expect(router.stats().moves).toMatchObject({ pauseWaits: 5, refusals: 0, routeSwitches: 1 });
    // The old database's DataSource was closed: its app role holds no session any more.
    await until(async () =>
      withAdmin(async (admin) => {
        const { rows } = await admin.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
          [a.appRole],
        );
        return rows[0].n === 0;
      }),
    );
  });

  it('answers a replica that missed the pause and the switch 503 when the old database refuses its write, and serves the next from the new one', async () => {
    const [, , c, d] = databases;
    const tenant = tenantIdOf(c);
    const directory = new FakeTenantDirectory();
    const secrets = new FakeAppSecrets();
    directory.add(tenant);
    secrets.put(tenant, loginOf(c));
    const router = newRouter(directory, secrets);
    await write(router, tenant, 'before the move');

    // The move happens while this replica hears nothing: its cached entry still names C.
    directory.patch(tenant, { writesPaused: true });
    await freeze(c);
    secrets.put(tenant, loginOf(d));
    directory.patch(tenant, { writesPaused: false, routeVersion: 2 });

    const refused = await write(router, tenant, 'refused by the old database').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TenantAccessError);
    expect((refused as TenantAccessError).code).toBe(TenantAccessErrorCode.TENANT_MOVING);
    expect(tenantAccessAnswer(refused as TenantAccessError)).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '1' },
    });

    await write(router, tenant, 'after the move');
    expect(await notesIn(d)).toEqual(['after the move']);
    expect(await notesIn(c)).toEqual(['before the move']);
    expect(router.stats().moves).toMatchObject({ refusals: 1, routeSwitches: 1 });
  });
});
