import type { TenantStatus, TierName } from '@silo/core';
import { EventEmitter } from 'node:events';
import type { DataSource, DataSourceOptions } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { TenantRouter } from './tenant-router';
import { TenantAccessError, TenantAccessErrorCode } from './tenant-router.errors';
import { TenantLeaseError, TenantLeaseErrorCode } from './tenant-router.errors';
import type {
  TenantDirectoryEntry,
  TenantLease,
  TenantPlacement,
  TenantRouterOptions,
} from './tenant-router.types';
import { SET_POOLED_TENANT_SQL } from './tenant-transaction';
import { tenantAccessAnswer } from './tenant-access.problem';

class FakePool {
  totalCount = 0;
  idleCount = 0;
  waitingCount = 0;
  ended = false;
  end(): Promise<void> {
    this.ended = true;
    return Promise.resolve();
  }
  /** A client checked out (a query running). */
  busy(): void {
    this.totalCount = 1;
    this.idleCount = 0;
  }
  idle(): void {
    this.totalCount = 1;
    this.idleCount = 1;
  }
}

/** Stands in for a TypeORM QueryRunner: records what a lease's transaction does on it. */
class FakeQueryRunner {
  readonly manager = { fake: 'manager' };
  /** Makes the given step fail. */
  failing: 'query' | 'commit' | 'rollback' | undefined;

  constructor(readonly steps: unknown[]) {}
  private step(name: string, ...args: unknown[]): Promise<void> {
    this.steps.push(args.length ? [name, ...args] : name);
    return this.failing === name ? Promise.reject(new Error(`${name} failed`)) : Promise.resolve();
  }
  connect = () => this.step('connect');
  startTransaction = () => this.step('start');
  query = (sql: string, params: unknown[]) => this.step('query', sql, params);
  commitTransaction = () => this.step('commit');
  rollbackTransaction = () => this.step('rollback');
  release = () => this.step('release');
  releasePostgresConnection = (error: Error) => this.step('release broken', error.message);
}

/** Stands in for a TypeORM DataSource: only what the router touches. */
class FakeDataSource {
  isInitialized = false;
  destroyed = false;
  readonly pool = new FakePool();
  readonly driver: { master?: FakePool; connectedQueryRunners: unknown[] } = { connectedQueryRunners: [] };
  /** What the transactions on it did, in order; `nextRunner` is the next one handed out. */
  readonly steps: unknown[] = [];
  nextRunner = new FakeQueryRunner(this.steps);

  constructor(
    readonly options: PostgresConnectionOptions,
    private readonly behaviour: (ds: FakeDataSource) => Promise<void>,
    private readonly events: string[],
  ) {}

  get tenant(): string {
    return String(this.options.database).split('@')[0];
  }

  /** The database it reaches: the tenant's, `@<route version>` after a move. */
  get database(): string {
    return String(this.options.database);
  }

  async initialize(): Promise<this> {
    this.events.push(`init ${this.tenant}`);
    await this.behaviour(this);
    this.driver.master = this.pool;
    this.isInitialized = true;
    return this;
  }

  createQueryRunner(): FakeQueryRunner {
    const runner = this.nextRunner;
    this.nextRunner = new FakeQueryRunner(this.steps);
    return runner;
  }

  destroy(): Promise<void> {
    this.events.push(`destroy ${this.tenant}`);
    this.isInitialized = false;
    this.destroyed = true;
    this.driver.master = undefined;
    return Promise.resolve();
  }
}

const AUTH_FAILED = Object.assign(new Error('password authentication failed for user "app"'), {
  code: '28P01',
});

const defaults: TenantRouterOptions = {
  entities: [],
  maxDataSources: 10,
  connectionBudget: 100,
  poolSizeByTier: { starter: 2, pro: 3, enterprise: 5 },
  idleTimeoutMs: 60_000,
  connectionTimeoutMs: 1_000,
  statusTtlMs: 1_000,
  secretTtlMs: 60_000,
  failureBackoffMs: 100,
  ssl: false,
  getDataSourceGraceMs: 0,
  closeTimeoutMs: 1_000,
};

const routers: TenantRouter[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

function harness(overrides: Partial<TenantRouterOptions> = {}) {
  let now = 1_000;
  const entries = new Map<string, TenantDirectoryEntry>();
  const events: string[] = [];
  const created: FakeDataSource[] = [];
  const passwords = new Map<string, string>();
  let behaviour: (ds: FakeDataSource) => Promise<void> = () => Promise.resolve();
  const directory = { find: jest.fn((id: string) => Promise.resolve(entries.get(id) ?? null)) };
  // A pooled tenant's secret is its host's: the pool database, the host's pool login.
  const credentials = {
    fetch: jest.fn((t: TenantDirectoryEntry) =>
      Promise.resolve(
        t.placement?.kind === 'pool'
          ? {
              host: 'host.local',
              port: 5432,
              dbname: t.placement.hostName,
              username: `${t.placement.hostName}_pool_app`,
              password: passwords.get(t.placement.hostName) ?? 'pw-1',
            }
          : {
              host: 'db.local',
              port: 5432,
              // A moved tenant's secret names its new database (`<id>@<route version>` past 1).
              dbname: t.routeVersion > 1 ? `${t.id}@${t.routeVersion}` : t.id,
              username: `${t.slug}_app`,
              password: passwords.get(t.id) ?? 'pw-1',
            },
      ),
    ),
  };
  const log = { warn: jest.fn(), debug: jest.fn() };
  const router = new TenantRouter(
    directory,
    credentials,
    {
      ...defaults,
      clock: () => now,
      createDataSource: (options: DataSourceOptions) => {
        const ds = new FakeDataSource(options as PostgresConnectionOptions, (d) => behaviour(d), events);
        created.push(ds);
        return ds as unknown as DataSource;
      },
      ...overrides,
    },
    log,
  );
  routers.push(router);
  const tenant = (
    id: string,
    tier: TierName = 'starter',
    status: TenantStatus = 'ACTIVE',
    placement: TenantPlacement = { kind: 'instance' },
  ): string => {
    entries.set(id, {
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
    return id;
  };
  /** A pooled tenant of host `hostName` (its id `h-<hostName>`). */
  const pooled = (id: string, hostName = 'pool-starter-001', tier: TierName = 'starter'): string =>
    tenant(id, tier, 'ACTIVE', { kind: 'pool', hostId: `h-${hostName}`, hostName });
  return {
    router,
    directory,
    credentials,
    log,
    events,
    created,
    passwords,
    tenant,
    pooled,
    advance: (ms: number) => (now += ms),
    setStatus: (id: string, status: TenantStatus) => entries.set(id, { ...entries.get(id)!, status }),
    entry: (id: string) => entries.get(id) ?? null,
    /** Changes what the directory answers for the tenant from now on. */
    patch: (id: string, fields: Partial<TenantDirectoryEntry>) =>
      entries.set(id, { ...entries.get(id)!, ...fields }),
    setSchemaVersion: (id: string, schemaVersion: string | null) =>
      entries.set(id, { ...entries.get(id)!, schemaVersion }),
    initialiseWith: (b: (ds: FakeDataSource) => Promise<void>) => (behaviour = b),
    dataSourceOf: (id: string) => created.filter((d) => d.tenant === id),
  };
}

/** Lets pending promise callbacks and immediate timers run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function accessError(promise: Promise<unknown>): Promise<TenantAccessError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TenantAccessError) return error;
    throw error;
  }
  throw new Error('expected a TenantAccessError');
}

async function open(router: TenantRouter, id: string): Promise<void> {
  (await router.acquire(id)).release();
}

describe('TenantRouter single flight', () => {
  it('shares one status lookup, one secret fetch and one initialisation among concurrent first calls', async () => {
    const h = harness();
    const a = h.tenant('a');
    const leases = await Promise.all(Array.from({ length: 100 }, () => h.router.acquire(a)));

    expect(h.directory.find).toHaveBeenCalledTimes(1);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(1);
    expect(h.created).toHaveLength(1);
    expect(new Set(leases.map((l) => l.dataSource)).size).toBe(1);
    expect(h.router.stats()).toMatchObject({ open: 1, leases: 100, initialisations: 1, coldStarts: 100 });
    leases.forEach((l) => l.release());
    expect(h.router.stats().leases).toBe(0);
  });

  it('serves a warm tenant without asking the directory or the secret store again', async () => {
    const h = harness();
    const a = h.tenant('a');
    await open(h.router, a);
    for (let i = 0; i < 50; i++) await open(h.router, a);
    expect(h.directory.find).toHaveBeenCalledTimes(1);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(1);
    expect(h.router.stats()).toMatchObject({ coldStarts: 1, initialisations: 1 });
  });

  it('builds the DataSource from the secret with a bounded pool and nothing run at start-up', async () => {
    const h = harness({ connectionTimeoutMs: 2_500 });
    await open(h.router, h.tenant('a', 'pro'));
    expect(h.created[0].options).toMatchObject({
      type: 'postgres',
      host: 'db.local',
      port: 5432,
      database: 'a',
      username: 'a_app',
      password: 'pw-1',
      synchronize: false,
      migrationsRun: false,
      installExtensions: false,
      extra: { max: 3, connectionTimeoutMillis: 2_500, application_name: 'silo-tenant-router' },
    });
  });

  it('does not cache a failed initialisation: calls fail fast during the backoff, then retry', async () => {
    const h = harness({ failureBackoffMs: 100 });
    const a = h.tenant('a');
    const refused = new Error('connect ECONNREFUSED');
    h.initialiseWith(() => Promise.reject(refused));

    const first = await Promise.all(Array.from({ length: 10 }, () => accessError(h.router.acquire(a))));
    expect(first.map((e) => e.code)).toEqual(
      Array(10).fill(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE),
    );
    expect(first[0].cause).toBe(refused);
    expect(first[0].details.retryAfterMs).toBe(100);
    expect(h.created).toHaveLength(1);

    h.advance(60);
    const during = await accessError(h.router.acquire(a));
    expect(during.details).toEqual({ tenantId: a, retryAfterMs: 40 });
    expect(h.created).toHaveLength(1);

    h.initialiseWith(() => Promise.resolve());
    h.advance(40);
    await open(h.router, a);
    expect(h.created).toHaveLength(2);
    expect(h.router.stats()).toMatchObject({ open: 1, initialisations: 2, initialisationFailures: 1 });
  });

  it('ends the pool TypeORM leaves behind when initialisation fails after connecting', async () => {
    const h = harness();
    h.initialiseWith((ds) => {
      ds.driver.master = ds.pool;
      return Promise.reject(new Error('permission denied for schema app'));
    });
    await accessError(h.router.acquire(h.tenant('a')));
    expect(h.created[0].pool.ended).toBe(true);
    expect(h.router.stats()).toMatchObject({ open: 0, waiting: 0 });
  });
});

describe('TenantRouter capacity', () => {
  it('closes the least recently used idle DataSource first when maxDataSources is reached', async () => {
    const h = harness({ maxDataSources: 2 });
    await open(h.router, h.tenant('a'));
    await open(h.router, h.tenant('b'));
    await open(h.router, 'a');
    await open(h.router, h.tenant('c'));

    expect(h.events).toEqual(['init a', 'init b', 'destroy b', 'init c']);
    expect(h.router.stats()).toMatchObject({ open: 2, evictions: 1 });
  });

  it('evicts an idle DataSource rather than wait for a retired one whose lease is still held', async () => {
    const h = harness({ maxDataSources: 2, connectionTimeoutMs: 200 });
    const a = h.tenant('a');
    await open(h.router, a);
    await open(h.router, h.tenant('b'));
    // a's password is refused while a lease on it runs long: a is retired but cannot close yet.
    const long = await h.router.acquire(a);
    await long.reportAuthenticationFailure();

    const c = await h.router.acquire(h.tenant('c'));
    c.release();
    expect(h.events).toEqual(['init a', 'init b', 'destroy b', 'init c']);
    expect(h.router.stats()).toMatchObject({ evictions: 1, open: 2 });

    long.release();
    await settle();
    expect(h.events.at(-1)).toBe('destroy a');
    expect(h.router.stats()).toMatchObject({ open: 1, leases: 0 });
  });

  it('never evicts a DataSource under lease: an opening waits until the lease is released', async () => {
    const h = harness({ maxDataSources: 1 });
    const lease = await h.router.acquire(h.tenant('a'));
    const b = h.router.acquire(h.tenant('b'));
    await settle();
    expect(h.router.stats()).toMatchObject({ waiting: 1, open: 1 });
    expect(h.events).toEqual(['init a']);

    lease.release();
    (await b).release();
    expect(h.events).toEqual(['init a', 'destroy a', 'init b']);
  });

  it('fails with TENANT_DATABASE_UNAVAILABLE after connectionTimeoutMs when nothing can be evicted', async () => {
    const h = harness({ maxDataSources: 1, connectionTimeoutMs: 30 });
    const lease = await h.router.acquire(h.tenant('a'));
    const error = await accessError(h.router.acquire(h.tenant('b')));

    expect(error.code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
    expect(error.details.retryAfterMs).toBeGreaterThan(0);
    expect(h.dataSourceOf('b')).toHaveLength(0);
    expect(h.router.stats()).toMatchObject({ waiting: 0, open: 1 });
    lease.release();
    // Capacity is not the tenant's fault: no backoff.
    await open(h.router, 'b');
  });

  it('serves waiting openings in arrival order', async () => {
    const h = harness({ maxDataSources: 1 });
    const a = await h.router.acquire(h.tenant('a'));
    const b = h.router.acquire(h.tenant('b'));
    const c = h.router.acquire(h.tenant('c'));
    await settle();
    a.release();
    const bLease = await b;
    expect(h.events).toEqual(['init a', 'destroy a', 'init b']);
    bLease.release();
    (await c).release();
    expect(h.events).toEqual(['init a', 'destroy a', 'init b', 'destroy b', 'init c']);
  });

  it('does not evict a DataSource whose pool has a client checked out (getDataSource, no lease)', async () => {
    const h = harness({ maxDataSources: 1 });
    await h.router.getDataSource(h.tenant('a'));
    const pool = h.dataSourceOf('a')[0].pool;
    pool.busy();
    const b = h.router.acquire(h.tenant('b'));
    await sleep(60);
    expect(h.events).toEqual(['init a']);

    pool.idle();
    (await b).release();
    expect(h.events).toEqual(['init a', 'destroy a', 'init b']);
  });

  it('keeps a DataSource handed out by getDataSource open for the grace period', async () => {
    const h = harness({ maxDataSources: 1, getDataSourceGraceMs: 500 });
    await h.router.getDataSource(h.tenant('a'));
    const b = h.router.acquire(h.tenant('b'));
    await sleep(60);
    expect(h.events).toEqual(['init a']);

    h.advance(500);
    (await b).release();
    expect(h.events).toEqual(['init a', 'destroy a', 'init b']);
  });
});

describe('TenantRouter idle timeout', () => {
  it('closes DataSources unused for idleTimeoutMs and keeps the recently used and the leased', async () => {
    const h = harness({ idleTimeoutMs: 1_000 });
    await open(h.router, h.tenant('a'));
    const leased = await h.router.acquire(h.tenant('b'));
    await open(h.router, h.tenant('c'));
    h.advance(600);
    await open(h.router, 'c');
    h.advance(600);

    expect(h.router.closeIdle()).toBe(1);
    await settle();
    expect(h.events.filter((e) => e.startsWith('destroy'))).toEqual(['destroy a']);
    expect(h.router.stats()).toMatchObject({ open: 2, idleClosed: 1, evictions: 0 });
    leased.release();
  });

  it('opens a new DataSource for a tenant whose DataSource idled out', async () => {
    const h = harness({ idleTimeoutMs: 1_000 });
    const a = h.tenant('a');
    await open(h.router, a);
    h.advance(1_000);
    h.router.closeIdle();
    await settle();
    await open(h.router, a);
    expect(h.events).toEqual(['init a', 'destroy a', 'init a']);
    // The secret was still fresh.
    expect(h.credentials.fetch).toHaveBeenCalledTimes(1);
  });
});

describe('TenantRouter leases', () => {
  it('counts a lease once however often it is released', async () => {
    const h = harness();
    const a = h.tenant('a');
    const first = await h.router.acquire(a);
    const second = await h.router.acquire(a);
    first.release();
    first.release();
    first.release();
    expect(h.router.stats().leases).toBe(1);

    // The tenant is suspended: its DataSource must wait for the remaining lease.
    h.setStatus(a, 'SUSPENDED');
    h.advance(1_000);
    await accessError(h.router.acquire(a));
    await settle();
    expect(h.created[0].destroyed).toBe(false);
    second.release();
    await settle();
    expect(h.created[0].destroyed).toBe(true);
  });

  it('carries the schema version the directory reported, and a new one once the cached status is refreshed', async () => {
    const h = harness({ statusTtlMs: 1_000 });
    const a = h.tenant('a');
    const first = await h.router.acquire(a);
    expect(first.schemaVersion).toBe('0001');
    first.release();

    h.setSchemaVersion(a, '0002');
    h.advance(500);
    const cached = await h.router.acquire(a);
    expect(cached.schemaVersion).toBe('0001');
    cached.release();

    // Near the TTL the warm path still answers from the cache and refreshes in the background.
    h.advance(300);
    const refreshing = await h.router.acquire(a);
    expect(refreshing.schemaVersion).toBe('0001');
    refreshing.release();
    await settle();
    const refreshed = await h.router.acquire(a);
    expect(refreshed.schemaVersion).toBe('0002');
    refreshed.release();
    // A lease keeps the version it was taken with.
    expect(cached.schemaVersion).toBe('0001');
    expect(h.created).toHaveLength(1);
  });

  it('sizes the pool by the tier the directory reports: after a tier change, on the next opening', async () => {
    const h = harness({ statusTtlMs: 1_000, idleTimeoutMs: 1_000 });
    const a = h.tenant('a', 'starter');
    await open(h.router, a);
    // The tier changes in the control plane; the open DataSource keeps serving with its pool.
    h.tenant('a', 'enterprise');
    await open(h.router, a);
    expect(h.dataSourceOf(a).map((d) => (d.options.extra as { max: number }).max)).toEqual([2]);
    // Once it has idled out (and the cached status expired), the next opening is sized for enterprise.
    h.advance(1_000);
    h.router.closeIdle();
    await settle();
    await open(h.router, a);
    expect(h.dataSourceOf(a).map((d) => (d.options.extra as { max: number }).max)).toEqual([2, 5]);
  });

  it('carries a null schema version when the control plane records none', async () => {
    const h = harness();
    const a = h.tenant('a');
    h.setSchemaVersion(a, null);
    const lease = await h.router.acquire(a);
    expect(lease.schemaVersion).toBeNull();
    lease.release();
  });

  it('releases the lease when run() work throws', async () => {
    const h = harness();
    const boom = new Error('boom');
    await expect(h.router.run(h.tenant('a'), () => Promise.reject(boom))).rejects.toBe(boom);
    expect(h.router.stats().leases).toBe(0);
  });
});

describe('TenantRouter fair shares', () => {
  const caps = { maxLeasesPerTenantByTier: { starter: 2, pro: 3, enterprise: 5 }, leaseWaitMs: 50 };

  /**
   * Contends the budget: tenant `w` opens a DataSource while every one the cap (`maxDataSources`)
   * holds is leased, so its opening waits for room. Resolves once it waits; `opened` settles
   * when it gets room (or fails).
   */
  async function contend(h: ReturnType<typeof harness>): Promise<{ opened: Promise<TenantLease | Error> }> {
    const opened = h.router.acquire(h.tenant('w')).catch((error: Error) => error);
    for (let i = 0; i < 10 && h.router.stats().waiting === 0; i++) await settle();
    expect(h.router.stats().waiting).toBe(1);
    return { opened };
  }

  it('lends a tenant leases past its cap while nothing waits for the budget', async () => {
    const h = harness(caps);
    const s = h.tenant('s', 'starter');
    // From cold and warm alike: nobody else waits, so nobody is refused.
    const cold = await Promise.all(Array.from({ length: 5 }, () => h.router.acquire(s)));
    const warm = await Promise.all(Array.from({ length: 5 }, () => h.router.acquire(s)));
    for (const lease of [...cold, ...warm]) lease.release();
    expect(h.router.stats().shares.starter).toEqual({ leases: 10, borrowed: 8, waits: 0, rejections: 0 });
  });

  it('caps a tenant past its share while the budget is contended, and serves another tenant meanwhile', async () => {
    const h = harness({ ...caps, maxDataSources: 2 });
    const noisy = h.tenant('n', 'starter');
    const quiet = h.tenant('q', 'starter');
    // Borrowed before anyone waited.
    const held = [
      await h.router.acquire(noisy),
      await h.router.acquire(noisy),
      await h.router.acquire(noisy),
    ];
    const quietLease = await h.router.acquire(quiet);
    const { opened } = await contend(h);

    const refused = await accessError(h.router.acquire(noisy));
    expect(refused.code).toBe(TenantAccessErrorCode.TENANT_BUSY);
    expect(refused.details.retryAfterMs).toBeGreaterThanOrEqual(1);
    // The quiet tenant is under its cap: served at once, contention or not.
    const served = await h.router.acquire(quiet);
    served.release();
    expect(h.router.stats().shares.starter).toMatchObject({ borrowed: 1, waits: 1, rejections: 1 });

    quietLease.release();
    // The quiet tenant's DataSource, idle now, made room for the waiting opening.
    const w = await opened;
    expect(w).not.toBeInstanceOf(Error);
    (w as TenantLease).release();
    for (const lease of held) lease.release();
  });

  it('lends no released lease again under contention until the tenant is back under its cap', async () => {
    const h = harness({ ...caps, maxDataSources: 2, leaseWaitMs: 1_000 });
    const noisy = h.tenant('n', 'starter');
    const held = [
      await h.router.acquire(noisy),
      await h.router.acquire(noisy),
      await h.router.acquire(noisy),
    ];
    const quietLease = await h.router.acquire(h.tenant('q', 'starter'));
    const { opened } = await contend(h);

    let waiterServed = false;
    const waiter = h.router.acquire(noisy).then((lease) => ((waiterServed = true), lease));
    held[0].release();
    await settle();
    // 3 → 2 leases: the borrowed place is taken back, not handed to the waiter.
    expect(waiterServed).toBe(false);
    held[1].release();
    const lease = await waiter;
    expect(h.router.stats().leases).toBe(3);
    for (const l of [lease, held[2], quietLease]) l.release();
    ((await opened) as TenantLease).release();
  });

  it('serves the waiters once the contention has ended, past the cap again', async () => {
    const h = harness({ ...caps, maxDataSources: 2, leaseWaitMs: 1_000 });
    const noisy = h.tenant('n', 'starter');
    const held = [await h.router.acquire(noisy), await h.router.acquire(noisy)];
    const quietLease = await h.router.acquire(h.tenant('q', 'starter'));
    const { opened } = await contend(h);
    const waiting = [h.router.acquire(noisy), h.router.acquire(noisy)];
    await settle();
    expect(h.router.stats().leases).toBe(3);

    // The waiting opening gets room: nothing waits for the budget any more.
    quietLease.release();
    const w = (await opened) as TenantLease;
    held[0].release();
    const served = await Promise.all(waiting);
    expect(h.router.stats().shares.starter).toMatchObject({ borrowed: 1, waits: 2, rejections: 0 });
    for (const lease of [...served, held[1], w]) lease.release();
  });

  it('does not count a tenant’s cold start against its lease wait', async () => {
    const h = harness({ ...caps, maxDataSources: 2, leaseWaitMs: 20 });
    const other = await h.router.acquire(h.tenant('o', 'starter'));
    const c = h.tenant('c', 'starter');
    // An opening that takes far longer than the lease wait, under contention from its start on.
    h.initialiseWith(() => sleep(150));
    const opener = h.router.acquire(c);
    await settle();
    const { opened } = await contend(h);
    const joiners = [h.router.acquire(c), h.router.acquire(c)];
    // Two places once it is open; the third caller waits for one of them, not for the opening.
    const two = await Promise.all([opener, joiners[0]]);
    two[0].release();
    const third = await joiners[1];
    expect(h.router.stats().shares.starter).toMatchObject({ waits: 1, rejections: 0 });
    for (const lease of [two[1], third, other]) lease.release();
    ((await opened) as TenantLease).release();
  });

  it('hands a released lease to the tenant’s waiters in arrival order', async () => {
    const h = harness({ ...caps, maxDataSources: 1, leaseWaitMs: 1_000 });
    const s = h.tenant('s', 'starter');
    const held = [await h.router.acquire(s), await h.router.acquire(s)];
    const { opened } = await contend(h);
    const order: number[] = [];
    const waiting = [1, 2].map((n) =>
      h.router.acquire(s).then((lease) => {
        order.push(n);
        return lease;
      }),
    );
    await settle();
    expect(order).toEqual([]);
    held[1].release();
    const first = await waiting[0];
    expect(order).toEqual([1]);
    // The warm path does not overtake a waiter: a new caller queues behind the second one.
    const late = h.router.acquire(s).then((lease) => (order.push(3), lease));
    held[0].release();
    const second = await waiting[1];
    first.release();
    const third = await late;
    expect(order).toEqual([1, 2, 3]);
    second.release();
    third.release();
    ((await opened) as TenantLease).release();
    expect(h.router.stats().leases).toBe(0);
  });

  it('refuses at once past the waiter cap, and takes no place while an opening fails', async () => {
    const h = harness({ ...caps, maxDataSources: 1, maxLeaseWaitersPerTenant: 1, leaseWaitMs: 1_000 });
    const s = h.tenant('s', 'starter');
    const held = [await h.router.acquire(s), await h.router.acquire(s)];
    const { opened } = await contend(h);
    const waiter = h.router.acquire(s);
    const refused = await accessError(h.router.acquire(s));
    expect(refused.code).toBe(TenantAccessErrorCode.TENANT_BUSY);
    held[0].release();
    (await waiter).release();
    held[1].release();
    ((await opened) as TenantLease).release();

    // A tenant whose database fails to open does not keep places.
    const f = h.tenant('f', 'starter');
    h.initialiseWith(() => Promise.reject(new Error('connection refused')));
    for (let i = 0; i < 3; i++) {
      h.advance(200);
      expect((await accessError(h.router.acquire(f))).code).toBe(
        TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE,
      );
    }
    expect(h.router.stats().leases).toBe(0);
  });

  it('names the tenants that held leases longest, in a bounded view', async () => {
    const h = harness();
    for (let i = 0; i < 100; i++) {
      const lease = await h.router.acquire(h.tenant(`t${i}`));
      h.advance(i === 42 ? 5_000 : 10);
      lease.release();
    }
    const top = h.router.topTenantsByLeaseTime(3);
    expect(top.map((t) => t.leaseMs)).toEqual([5_000, 10, 10]);
    expect(top[0].tenantId).toBe('t42');
    // Each reading covers the time since the one before; at most 64 tenants whatever is asked.
    const lease = await h.router.acquire('t7');
    h.advance(30);
    lease.release();
    expect(h.router.topTenantsByLeaseTime(1_000)).toEqual([{ tenantId: 't7', leaseMs: 30 }]);
    for (let i = 0; i < 100; i++) {
      const l = await h.router.acquire(`t${i}`);
      h.advance(1);
      l.release();
    }
    expect(h.router.topTenantsByLeaseTime(1_000)).toHaveLength(64);
  });
});

describe('TenantRouter status gating', () => {
  it('refuses an id the directory answers for under another spelling, and opens nothing', async () => {
    const h = harness();
    const id = h.tenant('0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f');
    h.directory.find.mockImplementation(() =>
      Promise.resolve({
        id,
        slug: 'acme',
        tier: 'starter',
        status: 'ACTIVE',
        schemaVersion: '0001',
        placement: { kind: 'instance' },
        region: null,
        routeVersion: 1,
        writesPaused: false,
      } as TenantDirectoryEntry),
    );
    const error = await accessError(h.router.acquire(id.toUpperCase()));
    expect(error.code).toBe(TenantAccessErrorCode.TENANT_NOT_FOUND);
    expect(h.created).toHaveLength(0);
    const lease = await h.router.acquire(id);
    lease.release();
    expect(h.created).toHaveLength(1);
  });

  it('fails the callers of a tenant whose directory lookup hangs after connectionTimeoutMs, and looks again next time', async () => {
    const h = harness({ connectionTimeoutMs: 50 });
    const a = h.tenant('a');
    h.directory.find.mockImplementationOnce(() => new Promise(() => undefined));
    const errors = await Promise.all([accessError(h.router.acquire(a)), accessError(h.router.acquire(a))]);
    expect(errors.map((e) => e.code)).toEqual([
      TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE,
      TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE,
    ]);
    expect(h.directory.find).toHaveBeenCalledTimes(1);
    const lease = await h.router.acquire(a);
    lease.release();
    expect(h.directory.find).toHaveBeenCalledTimes(2);
  });

  it('fails an opening whose secret fetch hangs after connectionTimeoutMs, and holds no room for it', async () => {
    const h = harness({ connectionTimeoutMs: 50 });
    const a = h.tenant('a');
    h.credentials.fetch.mockImplementationOnce(() => new Promise(() => undefined));
    const error = await accessError(h.router.acquire(a));
    expect(error.code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
    expect(h.created).toHaveLength(0);
    expect(h.router.stats()).toMatchObject({ waiting: 0, open: 0 });
  });

  it('refuses unknown, SUSPENDED and DELETED tenants without touching their secret', async () => {
    const h = harness();
    h.tenant('s', 'pro', 'SUSPENDED');
    h.tenant('d', 'pro', 'DELETED');

    const unknown = await accessError(h.router.acquire('nobody'));
    expect(unknown.code).toBe(TenantAccessErrorCode.TENANT_NOT_FOUND);
    for (const [id, status] of [
      ['s', 'SUSPENDED'],
      ['d', 'DELETED'],
    ] as const) {
      const error = await accessError(h.router.getDataSource(id));
      expect(error.code).toBe(TenantAccessErrorCode.TENANT_NOT_ACTIVE);
      expect(error.details).toEqual({ tenantId: id, status });
      expect(error.message).toContain(status);
    }
    expect(h.credentials.fetch).not.toHaveBeenCalled();
    expect(h.created).toHaveLength(0);
  });

  it('caches a refusal for statusTtlMs', async () => {
    const h = harness({ statusTtlMs: 1_000 });
    await accessError(h.router.acquire('nobody'));
    await accessError(h.router.acquire('nobody'));
    expect(h.directory.find).toHaveBeenCalledTimes(1);
    h.tenant('nobody');
    h.advance(1_000);
    await open(h.router, 'nobody');
    expect(h.directory.find).toHaveBeenCalledTimes(2);
  });

  it('refuses a tenant that turned SUSPENDED once its cached status expires, and closes its DataSource', async () => {
    const h = harness({ statusTtlMs: 1_000 });
    const a = h.tenant('a');
    await open(h.router, a);
    h.setStatus(a, 'SUSPENDED');

    h.advance(500);
    await open(h.router, a);
    h.advance(500);
    const error = await accessError(h.router.run(a, () => Promise.resolve()));
    expect(error.details.status).toBe('SUSPENDED');
    await settle();
    expect(h.router.stats().open).toBe(0);
    expect(h.events).toEqual(['init a', 'destroy a']);
  });

  it('refreshes a status near its expiry in the background, once for concurrent calls', async () => {
    const h = harness({ statusTtlMs: 1_000 });
    const a = h.tenant('a');
    await open(h.router, a);
    h.advance(800);
    await Promise.all(Array.from({ length: 10 }, () => open(h.router, a)));
    await settle();
    expect(h.directory.find).toHaveBeenCalledTimes(2);
    // Refreshed at 800: still fresh at 1_500.
    h.advance(700);
    await open(h.router, a);
    expect(h.directory.find).toHaveBeenCalledTimes(2);
  });

  it('reports an unreadable directory as TENANT_DATABASE_UNAVAILABLE and does not cache it', async () => {
    const h = harness();
    const a = h.tenant('a');
    h.directory.find.mockRejectedValueOnce(new Error('control plane down'));
    const error = await accessError(h.router.acquire(a));
    expect(error.code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
    await open(h.router, a);
  });
});

describe('TenantRouter credential rotation', () => {
  it('refetches the secret and rebuilds the DataSource once for concurrent 28P01 failures', async () => {
    const h = harness();
    const a = h.tenant('a');
    await open(h.router, a);
    h.passwords.set(a, 'pw-2');
    const calls: number[] = Array(20).fill(0);

    const results = await Promise.all(
      calls.map((_, i) =>
        h.router.run(a, (ds) => {
          calls[i]++;
          const password = (ds.options as PostgresConnectionOptions).password;
          return password === 'pw-2' ? Promise.resolve(i) : Promise.reject(AUTH_FAILED);
        }),
      ),
    );

    expect(results).toEqual(calls.map((_, i) => i));
    expect(calls).toEqual(Array(20).fill(2));
    expect(h.credentials.fetch).toHaveBeenCalledTimes(2);
    expect(h.router.stats()).toMatchObject({ rotations: 1, initialisations: 2, open: 1, leases: 0 });
    await settle();
    expect(h.created.map((d) => d.destroyed)).toEqual([true, false]);
  });

  it('rotates once when several leases report 28P01, and the next acquire gets the new credentials', async () => {
    const h = harness();
    const a = h.tenant('a');
    await open(h.router, a);
    const leases = await Promise.all([h.router.acquire(a), h.router.acquire(a), h.router.acquire(a)]);
    h.passwords.set(a, 'pw-2');
    await Promise.all(leases.map((l) => l.reportAuthenticationFailure()));
    leases.forEach((l) => l.release());
    const next = await h.router.acquire(a);
    expect((next.dataSource.options as PostgresConnectionOptions).password).toBe('pw-2');
    next.release();
    expect(h.credentials.fetch).toHaveBeenCalledTimes(2);
    expect(h.router.stats()).toMatchObject({ rotations: 1, initialisations: 2, open: 1, leases: 0 });
  });

  it('after its secret TTL, refetches the secret in the background and drains the DataSource when it changed', async () => {
    const h = harness({ secretTtlMs: 1_000 });
    const a = h.tenant('a');
    await open(h.router, a);
    // Within the TTL nothing is fetched again.
    await open(h.router, a);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(1);

    // Past the TTL, the same secret: one fetch, the DataSource stays.
    h.advance(1_000);
    await open(h.router, a);
    await settle();
    expect(h.credentials.fetch).toHaveBeenCalledTimes(2);
    expect(h.events).toEqual(['init a']);

    // Past it again, a rotated secret: the call in flight keeps the old DataSource, which closes
    // once released; the next call opens one with the new password.
    h.advance(1_000);
    h.passwords.set(a, 'pw-2');
    const inFlight = await h.router.acquire(a);
    expect((inFlight.dataSource.options as PostgresConnectionOptions).password).toBe('pw-1');
    await settle();
    expect(h.events).toEqual(['init a']);
    inFlight.release();
    await settle();
    const next = await h.router.acquire(a);
    expect((next.dataSource.options as PostgresConnectionOptions).password).toBe('pw-2');
    next.release();
    expect(h.events).toEqual(['init a', 'destroy a', 'init a']);
  });

  it('keeps serving when the background refetch fails, and tries again after the failure backoff', async () => {
    const h = harness({ secretTtlMs: 1_000, failureBackoffMs: 500 });
    const a = h.tenant('a');
    await open(h.router, a);
    h.advance(1_000);
    h.credentials.fetch.mockRejectedValueOnce(new Error('Secrets Manager is away'));
    await open(h.router, a);
    await settle();
    await open(h.router, a);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(2);
    h.advance(500);
    await open(h.router, a);
    await settle();
    expect(h.credentials.fetch).toHaveBeenCalledTimes(3);
    expect(h.events).toEqual(['init a']);
  });

  it('retries once only: a second authentication failure reaches the caller', async () => {
    const h = harness();
    const a = h.tenant('a');
    const work = jest.fn(() => Promise.reject(AUTH_FAILED));
    await expect(h.router.run(a, work)).rejects.toBe(AUTH_FAILED);
    expect(work).toHaveBeenCalledTimes(2);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(2);
  });

  it('recognises 28P01 wrapped by TypeORM and does not retry other errors', async () => {
    const h = harness();
    const a = h.tenant('a');
    const wrapped = Object.assign(new Error('query failed'), { driverError: { code: '28P01' } });
    const once = jest.fn().mockRejectedValueOnce(wrapped).mockResolvedValueOnce('ok');
    await expect(h.router.run(a, once)).resolves.toBe('ok');

    const other = Object.assign(new Error('duplicate key'), { code: '23505' });
    const work = jest.fn(() => Promise.reject(other));
    await expect(h.router.run(a, work)).rejects.toBe(other);
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('refetches a cached secret once when the database refuses it at initialisation', async () => {
    const h = harness({ idleTimeoutMs: 1_000 });
    const a = h.tenant('a');
    await open(h.router, a);
    h.advance(1_000);
    h.router.closeIdle();
    await settle();
    h.passwords.set(a, 'pw-2');
    h.initialiseWith((ds) =>
      ds.options.password === 'pw-2' ? Promise.resolve() : Promise.reject(AUTH_FAILED),
    );

    await open(h.router, a);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(2);
    expect(h.router.stats()).toMatchObject({ initialisations: 3, initialisationFailures: 1, open: 1 });
  });

  it('does not loop when a freshly fetched secret is refused too', async () => {
    const h = harness();
    h.initialiseWith(() => Promise.reject(AUTH_FAILED));
    const error = await accessError(h.router.acquire(h.tenant('a')));
    expect(error.cause).toBe(AUTH_FAILED);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(1);
    expect(h.router.stats().initialisations).toBe(1);
  });
});

describe('TenantRouter close', () => {
  it('waits for leases before destroying, then refuses calls', async () => {
    const h = harness();
    const a = h.tenant('a');
    const lease: TenantLease = await h.router.acquire(a);
    let closed = false;
    const closing = h.router.close().then(() => (closed = true));
    await sleep(40);
    expect(closed).toBe(false);
    expect(h.created[0].destroyed).toBe(false);

    lease.release();
    await closing;
    expect(h.created[0].destroyed).toBe(true);
    const error = await accessError(h.router.acquire(a));
    expect(error.message).toContain('closed');
  });

  it('destroys a DataSource still leased once closeTimeoutMs has passed, and says so', async () => {
    const h = harness({ closeTimeoutMs: 30 });
    await h.router.acquire(h.tenant('a'));
    await h.router.close();
    expect(h.created[0].destroyed).toBe(true);
    expect(h.log.warn).toHaveBeenCalledWith(
      { tenantId: 'a', leases: 1 },
      expect.stringContaining('close deadline passed'),
    );
  });

  it('returns by closeTimeoutMs even while an opening hangs in its secret fetch', async () => {
    const h = harness({ closeTimeoutMs: 30, connectionTimeoutMs: 300 });
    h.credentials.fetch.mockImplementationOnce(() => new Promise(() => undefined));
    const opening = accessError(h.router.acquire(h.tenant('a')));
    await settle();
    const outcome = await Promise.race([
      h.router.close().then(() => 'closed'),
      sleep(250).then(() => 'hung'),
    ]);
    expect(outcome).toBe('closed');
    // The fetch gives up at connectionTimeoutMs and the opening fails (unavailable); nothing opened.
    expect((await opening).code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
    expect(h.created).toHaveLength(0);
  });

  it('fails openings waiting for room', async () => {
    const h = harness({ maxDataSources: 1 });
    const lease = await h.router.acquire(h.tenant('a'));
    const waiting = accessError(h.router.acquire(h.tenant('b')));
    await settle();
    const closing = h.router.close();
    expect((await waiting).message).toContain('closed');
    lease.release();
    await closing;
  });
});

async function leaseError(promise: Promise<unknown>): Promise<TenantLeaseError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof TenantLeaseError) return error;
  throw new Error(`expected a TenantLeaseError, got ${String(error)}`);
}

describe('TenantRouter placements', () => {
  it('gives the pooled tenants of one host ONE DataSource, from one secret fetch, sized poolSizePerHost', async () => {
    const h = harness({ poolSizePerHost: 7 });
    const tenants = Array.from({ length: 20 }, (_, i) => h.pooled(`p${i}`));
    const leases = await Promise.all(tenants.map((id) => h.router.acquire(id)));

    expect(h.created).toHaveLength(1);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(1);
    expect(h.created[0].options).toMatchObject({
      database: 'pool-starter-001',
      username: 'pool-starter-001_pool_app',
      extra: { max: 7, options: '-c search_path="app"' },
    });
    expect(new Set(leases.map((l) => (l as unknown as { slot: unknown }).slot)).size).toBe(1);
    expect(leases.map((l) => l.tenantId)).toEqual(tenants);
    expect(leases.every((l) => l.placement === 'pool')).toBe(true);
    expect(h.router.stats()).toMatchObject({ open: 1, leases: 20, initialisations: 1 });
    leases.forEach((l) => l.release());

    // Another host, an instance and a schema tenant: one DataSource each.
    await open(h.router, h.pooled('q0', 'pool-starter-002'));
    await open(h.router, h.tenant('i0', 'pro'));
    await open(h.router, h.tenant('s0', 'pro', 'ACTIVE', { kind: 'schema', schema: 'silo_s0' }));
    await open(h.router, h.tenant('s1', 'pro', 'ACTIVE', { kind: 'schema', schema: 'silo_s1' }));
    expect(h.created.map((d) => d.tenant)).toEqual([
      'pool-starter-001',
      'pool-starter-002',
      'i0',
      's0',
      's1',
    ]);
    expect(h.router.stats().open).toBe(5);
  });

  it('sets the search path and the tenant at connection start for instance and schema tenants only', async () => {
    const h = harness();
    const id = '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f';
    await open(h.router, h.tenant(id, 'pro'));
    await open(h.router, h.tenant('acme', 'pro', 'ACTIVE', { kind: 'schema', schema: 'silo_acme' }));
    await open(h.router, h.pooled('p'));
    expect(h.created.map((d) => (d.options.extra as { options: string }).options)).toEqual([
      `-c search_path="app" -c app.tenant_id=${id}`,
      '-c search_path="silo_acme" -c app.tenant_id=acme',
      '-c search_path="app"',
    ]);
  });

  it('opens nothing for a schema name or a tenant id that cannot go into the startup options', async () => {
    const h = harness();
    const bad = h.tenant('x', 'pro', 'ACTIVE', { kind: 'schema', schema: 'x -c role=postgres' });
    const error = await accessError(h.router.acquire(bad));
    expect(error.code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
    expect(String((error.cause as Error).message)).toMatch(/not a valid SQL identifier/);
    const spaced = await accessError(h.router.acquire(h.tenant('y -c role=postgres')));
    expect(String((spaced.cause as Error).message)).toMatch(/cannot be set as app.tenant_id/);
    expect(h.created).toHaveLength(0);
    expect(h.credentials.fetch).not.toHaveBeenCalled();
  });

  it('refuses the DataSource of a pooled lease, in run() and getDataSource() too, and keeps it for the others', async () => {
    const h = harness();
    const p = h.pooled('p');
    const lease = await h.router.acquire(p);
    const thrown = (() => {
      try {
        return lease.dataSource;
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(TenantLeaseError);
    expect((thrown as TenantLeaseError).code).toBe(TenantLeaseErrorCode.POOLED_TENANT_NEEDS_TRANSACTION);
    expect((thrown as TenantLeaseError).details).toEqual({ tenantId: p });
    lease.release();

    const work = jest.fn(() => Promise.resolve('ran'));
    expect((await leaseError(h.router.run(p, work))).code).toBe(
      TenantLeaseErrorCode.POOLED_TENANT_NEEDS_TRANSACTION,
    );
    expect(work).not.toHaveBeenCalled();
    // Warm and cold alike.
    expect((await leaseError(h.router.getDataSource(p))).code).toBe(
      TenantLeaseErrorCode.POOLED_TENANT_NEEDS_TRANSACTION,
    );
    expect((await leaseError(h.router.getDataSource(h.pooled('cold', 'pool-starter-009')))).code).toBe(
      TenantLeaseErrorCode.POOLED_TENANT_NEEDS_TRANSACTION,
    );
    expect(h.router.stats().leases).toBe(0);

    const own = await h.router.acquire(h.tenant('i'));
    expect(own.dataSource).toBe(h.dataSourceOf('i')[0]);
    own.release();
  });

  it('runs a pooled lease’s transaction with the tenant set first, and an instance one without', async () => {
    const h = harness();
    const p = h.pooled('p');
    const lease = await h.router.acquire(p);
    const manager = await lease.transaction((m) => Promise.resolve(m));
    const pool = h.created[0];
    expect(pool.steps).toEqual([
      'connect',
      'start',
      ['query', SET_POOLED_TENANT_SQL, [p]],
      'commit',
      'release',
    ]);
    expect(manager).toEqual({ fake: 'manager' });
    lease.release();

    await expect(h.router.transaction(h.tenant('i'), () => Promise.resolve(1))).resolves.toBe(1);
    expect(h.dataSourceOf('i')[0].steps).toEqual(['connect', 'start', 'commit', 'release']);
  });

  it('rolls back a failed transaction and rethrows; a connection whose rollback fails is destroyed', async () => {
    const h = harness();
    const p = h.pooled('p');
    const failure = new Error('work failed');
    await expect(h.router.transaction(p, () => Promise.reject(failure))).rejects.toBe(failure);
    const pool = h.created[0];
    expect(pool.steps).toEqual([
      'connect',
      'start',
      ['query', SET_POOLED_TENANT_SQL, [p]],
      'rollback',
      'release',
    ]);

    pool.steps.length = 0;
    pool.nextRunner.failing = 'commit';
    await expect(h.router.transaction(p, () => Promise.resolve(1))).rejects.toThrow('commit failed');
    expect(pool.steps.slice(-2)).toEqual(['rollback', 'release']);

    pool.steps.length = 0;
    pool.nextRunner.failing = 'rollback';
    await expect(h.router.transaction(p, () => Promise.reject(failure))).rejects.toBe(failure);
    expect(pool.steps.slice(-2)).toEqual(['rollback', ['release broken', 'rollback failed']]);

    // The tenant could not be set: nothing of the work runs.
    pool.steps.length = 0;
    pool.nextRunner.failing = 'query';
    const work = jest.fn(() => Promise.resolve(1));
    await expect(h.router.transaction(p, work)).rejects.toThrow('query failed');
    expect(work).not.toHaveBeenCalled();
    expect(pool.steps.slice(-2)).toEqual(['rollback', 'release']);
    expect(h.router.stats().leases).toBe(0);
  });

  it('refuses a pooled tenant seen SUSPENDED and keeps its host’s DataSource serving the others', async () => {
    const h = harness({ statusTtlMs: 100 });
    const [a, b] = [h.pooled('a'), h.pooled('b')];
    await open(h.router, a);
    await open(h.router, b);
    h.setStatus(a, 'SUSPENDED');
    h.advance(150);
    expect((await accessError(h.router.acquire(a))).code).toBe(TenantAccessErrorCode.TENANT_NOT_ACTIVE);
    await open(h.router, b);
    await settle();
    expect(h.events).toEqual(['init pool-starter-001']);
  });

  it('counts leases against each pooled tenant’s own share on the shared DataSource', async () => {
    const h = harness({
      maxLeasesPerTenantByTier: { starter: 1, pro: 2, enterprise: 4 },
      maxDataSources: 1,
      connectionTimeoutMs: 200,
      leaseWaitMs: 10,
    });
    const [a, b] = [h.pooled('a'), h.pooled('b')];
    const held = await h.router.acquire(a);
    // The budget contended: an instance tenant waits for room for its DataSource.
    const waiting = h.router.acquire(h.tenant('i'));
    await settle();
    expect((await accessError(h.router.acquire(a))).code).toBe(TenantAccessErrorCode.TENANT_BUSY);
    const other = await h.router.acquire(b);
    expect(h.router.stats().shares.starter).toMatchObject({ rejections: 1 });
    other.release();
    held.release();
    (await waiting).release();
  });

  it('refetches the host’s secret once when its pool login is refused, and rebuilds the one DataSource', async () => {
    const h = harness();
    const [a, b] = [h.pooled('a'), h.pooled('b')];
    const leases = [await h.router.acquire(a), await h.router.acquire(b)];
    h.passwords.set('pool-starter-001', 'pw-2');
    await Promise.all(leases.map((l) => l.reportAuthenticationFailure()));
    leases.forEach((l) => l.release());
    expect(h.credentials.fetch).toHaveBeenCalledTimes(2);
    expect(h.router.stats().rotations).toBe(1);

    await open(h.router, a);
    await open(h.router, b);
    expect(h.created.map((d) => d.options.password)).toEqual(['pw-1', 'pw-2']);
    expect(h.created[0].destroyed).toBe(true);
  });

  it('retries a transaction once after 28P01, on the DataSource rebuilt with the host’s new secret', async () => {
    const h = harness();
    const p = h.pooled('p');
    await open(h.router, p);
    h.passwords.set('pool-starter-001', 'pw-2');
    let calls = 0;
    const result = await h.router.transaction(p, () =>
      ++calls === 1 ? Promise.reject(AUTH_FAILED) : Promise.resolve('ok'),
    );
    expect(result).toBe('ok');
    expect(h.created.map((d) => d.options.password)).toEqual(['pw-1', 'pw-2']);
  });

  it('refuses an ACTIVE tenant the directory reports without a place, and opens nothing', async () => {
    const h = harness();
    h.directory.find.mockImplementation((id: string) =>
      Promise.resolve({
        id,
        slug: id,
        tier: 'starter',
        status: 'ACTIVE',
        schemaVersion: null,
        placement: null,
        region: null,
        routeVersion: 1,
        writesPaused: false,
      }),
    );
    const error = await accessError(h.router.acquire('u'));
    expect(error.code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
    expect(error.message).toMatch(/not placed on a host yet/);
    expect(h.created).toHaveLength(0);
  });
});

describe('TenantRouter options', () => {
  it('rejects a host pool larger than the budget', () => {
    const h = harness();
    expect(
      () =>
        new TenantRouter(h.directory, h.credentials, {
          ...defaults,
          connectionBudget: 8,
          poolSizePerHost: 9,
        }),
    ).toThrow(/poolSizePerHost \(9\) exceeds connectionBudget \(8\)/);
  });

  it('rejects a pool larger than the budget and globs for entities, naming each problem', () => {
    const h = harness();
    const bad = {
      ...defaults,
      connectionBudget: 4,
      entities: ['dist/**/*.entity.js'] as unknown as TenantRouterOptions['entities'],
    };
    expect(() => new TenantRouter(h.directory, h.credentials, bad)).toThrow(
      /poolSizeByTier.enterprise \(5\) exceeds connectionBudget \(4\).*entities must be entity classes/,
    );
  });
});

const MOVED = Object.assign(new Error('tenant a is moving: its writes are paused here'), { code: '25006' });

/** A Redis client whose duplicate() is a subscriber the test speaks for. */
function fakeSignalRedis() {
  const subscriber = Object.assign(new EventEmitter(), {
    channels: [] as string[],
    subscribe: jest.fn((channel: string) => {
      subscriber.channels.push(channel);
      return Promise.resolve(1);
    }),
    quit: jest.fn(() => Promise.resolve('OK')),
    disconnect: jest.fn(),
  });
  const redis = { duplicate: jest.fn(() => subscriber) };
  const publish = (message: unknown, channel = 'silo:tenant-routes') =>
    subscriber.emit('message', channel, typeof message === 'string' ? message : JSON.stringify(message));
  return { redis, subscriber, publish };
}

describe('TenantRouter moves', () => {
  it('holds new leases while the tenant’s writes are paused, taking no connection, and serves them once resumed; other tenants meanwhile', async () => {
    const h = harness({ statusTtlMs: 100, movePauseWaitMs: 10_000 });
    const [a, b] = [h.tenant('a'), h.tenant('b')];
    await open(h.router, a);
    await open(h.router, b);
    let inFlight = 0;
    let mostInFlight = 0;
    h.directory.find.mockImplementation(async (id: string) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await sleep(5);
      inFlight--;
      return h.entry(id);
    });
    h.patch(a, { writesPaused: true });
    h.advance(100);
    const order: string[] = [];
    const waiting = Array.from({ length: 3 }, (_, i) =>
      h.router.acquire(a).then((lease) => {
        order.push(`a${i}`);
        return lease;
      }),
    );
    await sleep(20);
    // Other tenants are served at once while a waits.
    await open(h.router, b);
    order.push('b');
    expect(h.router.stats()).toMatchObject({ leases: 0, open: 2 });
    // A few polls of the directory go by, one at a time.
    await eventuallyTrue(() => h.directory.find.mock.calls.filter(([id]) => id === a).length >= 3);
    expect(order).toEqual(['b']);
    h.patch(a, { writesPaused: false });
    const leases = await Promise.all(waiting);
    expect(order).toEqual(['b', 'a0', 'a1', 'a2']);
    expect(mostInFlight).toBe(1);
    expect(h.created).toHaveLength(2);
    expect(h.router.stats().moves).toMatchObject({ pauseWaits: 3, refusals: 0 });
    leases.forEach((l) => l.release());
  });

  it('refuses a lease whose wait outlasts movePauseWaitMs as TENANT_MOVING (503, Retry-After 1), and lets a lease held before the pause carry on', async () => {
    const h = harness({ statusTtlMs: 100, movePauseWaitMs: 200 });
    const a = h.tenant('a');
    const held = await h.router.acquire(a);
    h.patch(a, { writesPaused: true });
    h.advance(100);
    const error = await accessError(h.router.acquire(a));
    expect(error.code).toBe(TenantAccessErrorCode.TENANT_MOVING);
    expect(tenantAccessAnswer(error)).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '1' },
      body: { status: 503 },
    });
    await expect(held.transaction(() => Promise.resolve('still served'))).resolves.toBe('still served');
    held.release();
    expect(h.events).toEqual(['init a']);
    expect(h.router.stats().moves).toMatchObject({ pauseWaits: 1, refusals: 1 });
  });

  it('at a higher route version retires the tenant’s DataSource once its leases end, and opens the new route with its secret read again', async () => {
    const h = harness({ statusTtlMs: 100 });
    const [a, b] = [h.tenant('a'), h.tenant('b')];
    const held = await h.router.acquire(a);
    await open(h.router, b);
    h.patch(a, { routeVersion: 2, region: 'eu-central-1' });
    h.advance(100);
    const moved = await h.router.acquire(a);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(3);
    expect(h.credentials.fetch.mock.calls[2][0]).toMatchObject({
      id: a,
      routeVersion: 2,
      region: 'eu-central-1',
    });
    expect(h.created.map((d) => d.database)).toEqual(['a', 'b', 'a@2']);
    expect(h.created[0].destroyed).toBe(false);
    held.release();
    moved.release();
    await settle();
    expect(h.events).toEqual(['init a', 'init b', 'init a', 'destroy a']);
    expect(h.created[0].destroyed).toBe(true);
    expect(h.created[1].destroyed).toBe(false);
    expect(h.router.stats().moves.routeSwitches).toBe(1);
    // Warm on the new route: nothing is read again.
    await open(h.router, a);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(3);
  });

  it('does not keep a DataSource opened on the old route while the switch was seen', async () => {
    const h = harness({ statusTtlMs: 100 });
    const a = h.tenant('a');
    let release!: () => void;
    h.initialiseWith((ds) =>
      ds.database === 'a' ? new Promise<void>((r) => (release = r)) : Promise.resolve(),
    );
    const opening = h.router.acquire(a);
    await settle();
    // The switch is seen by another lookup while the first opening still runs.
    h.patch(a, { routeVersion: 2 });
    h.advance(100);
    const after = h.router.acquire(a);
    await settle();
    release();
    const [first, second] = await Promise.all([opening, after]);
    expect(first.dataSource).toBe(second.dataSource);
    expect((first.dataSource as unknown as FakeDataSource).database).toBe('a@2');
    first.release();
    second.release();
    await settle();
    expect(h.created.map((d) => [d.database, d.destroyed])).toEqual([
      ['a', true],
      ['a@2', false],
    ]);
  });

  it('ends only a moved pooled tenant’s binding: its host’s DataSource serves the host’s other tenants on', async () => {
    const h = harness({ statusTtlMs: 100 });
    const [a, b] = [h.pooled('a'), h.pooled('b')];
    await open(h.router, a);
    await open(h.router, b);
    h.patch(a, { placement: { kind: 'instance' }, routeVersion: 2, tier: 'enterprise' });
    h.advance(100);
    const lease = await h.router.acquire(a);
    expect(lease.placement).toBe('instance');
    lease.release();
    await h.router.transaction(b, () => Promise.resolve());
    await settle();
    expect(h.created.map((d) => [d.database, d.destroyed])).toEqual([
      ['pool-starter-001', false],
      ['a@2', false],
    ]);
  });

  it('fails a write refused with 25006 as TENANT_MOVING and looks the tenant up at once, in every way work runs', async () => {
    const h = harness({ statusTtlMs: 60_000 });
    const [a, p] = [h.tenant('a'), h.pooled('p')];
    await open(h.router, a);
    await open(h.router, p);
    const finds = () => h.directory.find.mock.calls.length;
    const before = finds();

    const viaTransaction = await accessError(h.router.transaction(a, () => Promise.reject(MOVED)));
    expect(viaTransaction.code).toBe(TenantAccessErrorCode.TENANT_MOVING);
    expect(viaTransaction.cause).toBe(MOVED);
    await settle();
    expect(finds()).toBe(before + 1);

    const viaRun = await accessError(
      h.router.run(a, () => Promise.reject(Object.assign(new Error('query failed'), { driverError: MOVED }))),
    );
    expect(viaRun.code).toBe(TenantAccessErrorCode.TENANT_MOVING);
    const lease = await h.router.acquire(p);
    const viaLease = await accessError(lease.transaction(() => Promise.reject(MOVED)));
    lease.release();
    expect(viaLease.code).toBe(TenantAccessErrorCode.TENANT_MOVING);
    await settle();
    expect(finds()).toBe(before + 3);
    expect(h.router.stats().moves.refusals).toBe(3);

    // Other errors are the work's own, and nothing is looked up for them.
    const other = new Error('duplicate key');
    await expect(h.router.transaction(a, () => Promise.reject(other))).rejects.toBe(other);
    expect(finds()).toBe(before + 3);
  });

  it('after a 25006 serves the next call from where the directory says the tenant is now', async () => {
    const h = harness({ statusTtlMs: 60_000 });
    const a = h.tenant('a');
    await open(h.router, a);
    // The replica missed the pause and the switch: its cached entry still names route 1.
    h.patch(a, { routeVersion: 2 });
    await accessError(h.router.transaction(a, () => Promise.reject(MOVED)));
    const lease = await h.router.acquire(a);
    expect((lease.dataSource as unknown as FakeDataSource).database).toBe('a@2');
    lease.release();
    await settle();
    expect(h.events).toEqual(['init a', 'destroy a', 'init a']);
  });

  it('looks a tenant up at once on its route signal, on a connection of its own, ignoring what is not a signal', async () => {
    const signals = fakeSignalRedis();
    const h = harness({
      statusTtlMs: 60_000,
      movePauseWaitMs: 10_000,
      routeSignals: { redis: signals.redis as never, resourcePrefix: 'silo' },
    });
    const [a, b] = [
      h.tenant('0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f'),
      h.tenant('1c8d7b63-8054-4e2d-ae1b-2b3c4d5e6f70'),
    ];
    await open(h.router, a);
    await open(h.router, b);
    await settle();
    expect(signals.redis.duplicate).toHaveBeenCalledTimes(1);
    expect(signals.subscriber.channels).toEqual(['silo:tenant-routes']);
    const findsOf = (id: string) => h.directory.find.mock.calls.filter(([t]) => t === id).length;

    // The pause, told by signal: the next lease of a waits, b's does not.
    h.patch(a, { writesPaused: true });
    signals.publish({ tenantId: a, routeVersion: 1, writesPaused: true });
    await settle();
    expect(findsOf(a)).toBe(2);
    const waiting = h.router.acquire(a);
    let served = false;
    void waiting.then(() => (served = true));
    await open(h.router, b);
    await settle();
    expect(served).toBe(false);

    // The switch: the signal's content is not trusted, the directory is.
    h.patch(a, { writesPaused: false, routeVersion: 2 });
    signals.publish({ tenantId: a, routeVersion: 99, writesPaused: true });
    const lease = await waiting;
    expect((lease.dataSource as unknown as FakeDataSource).database).toBe(`${a}@2`);
    lease.release();

    const finds = h.directory.find.mock.calls.length;
    signals.publish('not json');
    signals.publish({ tenantId: 'acme', routeVersion: 1, writesPaused: false });
    signals.publish({ tenantId: b, routeVersion: 2, writesPaused: false }, 'other:tenant-routes');
    signals.publish({
      tenantId: '2d9e8c74-9165-4f3e-bf2c-3c4d5e6f7081',
      routeVersion: 2,
      writesPaused: false,
    });
    await settle();
    expect(h.directory.find.mock.calls.length).toBe(finds);
    expect(h.router.stats().moves.signals).toBe(3);
    expect(findsOf(b)).toBe(1);

    await h.router.close();
    expect(signals.subscriber.quit).toHaveBeenCalledTimes(1);
  });

  it('keeps serving while route signals are lost, says so once, and refreshes every tenant once they are back', async () => {
    const signals = fakeSignalRedis();
    const h = harness({
      statusTtlMs: 60_000,
      routeSignals: { redis: signals.redis as never, resourcePrefix: 'silo' },
    });
    const a = h.tenant('a');
    await open(h.router, a);
    await settle();
    signals.subscriber.emit('error', new Error('ECONNREFUSED'));
    signals.subscriber.emit('close');
    signals.subscriber.emit('error', new Error('ECONNREFUSED'));
    await open(h.router, a);
    expect(h.log.warn.mock.calls.filter(([, m]) => /route signals cannot be heard/.test(m))).toHaveLength(1);
    expect(h.directory.find).toHaveBeenCalledTimes(1);
    signals.subscriber.emit('ready');
    await open(h.router, a);
    await settle();
    expect(h.directory.find).toHaveBeenCalledTimes(2);
  });

  it('refuses route signal options without a client or with a bad prefix', () => {
    expect(
      () =>
        new TenantRouter(
          { find: () => Promise.resolve(null) },
          { fetch: () => Promise.reject(new Error()) },
          {
            ...defaults,
            movePauseWaitMs: -1,
            routeSignals: { redis: 'http://redis', resourcePrefix: 'Not A Prefix' },
          },
        ),
    ).toThrow(
      /movePauseWaitMs must be a number >= 0.*routeSignals.redis must be an ioredis client or a redis:\/\/ URL; routeSignals.resourcePrefix must be a resource prefix/,
    );
  });
});

/** Waits (polling every 10 ms, at most 5 s) for `condition`. */
async function eventuallyTrue(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5_000) throw new Error('the condition never held');
    await sleep(10);
  }
}
