import type { TenantStatus } from '@silo/core';
import type { DataSource, DataSourceOptions } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { RESTORE_COPY_APPLICATION_NAME } from './restore-copies';
import { tenantAccessAnswer } from './tenant-access.problem';
import { TenantRouter } from './tenant-router';
import { TenantAccessError, TenantAccessErrorCode } from './tenant-router.errors';
import type {
  RestoreCopyEntry,
  RestoreCopyStatus,
  TenantAppCredentials,
  TenantDirectoryEntry,
  TenantRouterOptions,
} from './tenant-router.types';
import { READ_ONLY_TRANSACTION_SQL } from './tenant-transaction';

const TENANT = '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f';
const HOUR = 3_600_000;

/** A TypeORM QueryRunner as far as a lease's transaction uses it: records its steps. */
class FakeQueryRunner {
  readonly manager = { fake: 'manager' };
  constructor(private readonly steps: unknown[]) {}
  private step(name: string, ...args: unknown[]): Promise<void> {
    this.steps.push(args.length ? [name, ...args] : name);
    return Promise.resolve();
  }
  connect = () => this.step('connect');
  startTransaction = () => this.step('start');
  query = (sql: string) => this.step('query', sql);
  commitTransaction = () => this.step('commit');
  rollbackTransaction = () => this.step('rollback');
  release = () => this.step('release');
}

/** A TypeORM DataSource as far as the router touches it. */
class FakeDataSource {
  isInitialized = false;
  destroyed = false;
  readonly driver: { master?: object; connectedQueryRunners: unknown[] } = { connectedQueryRunners: [] };
  readonly steps: unknown[] = [];
  constructor(readonly options: PostgresConnectionOptions) {}
  get user(): string {
    return String(this.options.username);
  }
  initialize(): Promise<this> {
    this.isInitialized = true;
    this.driver.master = { totalCount: 0, idleCount: 0, waitingCount: 0 };
    return Promise.resolve(this);
  }
  createQueryRunner(): FakeQueryRunner {
    return new FakeQueryRunner(this.steps);
  }
  destroy(): Promise<void> {
    this.isInitialized = false;
    this.destroyed = true;
    this.driver.master = undefined;
    return Promise.resolve();
  }
}

const defaults: TenantRouterOptions = {
  entities: [],
  maxDataSources: 10,
  connectionBudget: 10,
  poolSizeByTier: { starter: 2, pro: 3, enterprise: 5 },
  idleTimeoutMs: 60_000,
  connectionTimeoutMs: 1_000,
  statusTtlMs: 1_000,
  secretTtlMs: 60_000,
  failureBackoffMs: 100,
  ssl: false,
  closeTimeoutMs: 1_000,
};

const routers: TenantRouter[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

function harness(overrides: Partial<TenantRouterOptions> = {}) {
  let now = 1_000;
  const tenants = new Map<string, TenantDirectoryEntry>();
  const copies = new Map<string, RestoreCopyEntry>();
  const created: FakeDataSource[] = [];
  const directory = {
    find: jest.fn((id: string) => Promise.resolve(tenants.get(id) ?? null)),
    findRestoreCopy: jest.fn((id: string, run: number) =>
      Promise.resolve(copies.get(`${id}/${run}`) ?? null),
    ),
  };
  const login = (username: string): TenantAppCredentials => ({
    host: 'db.local',
    port: 5432,
    dbname: 'silo-acme',
    username,
    password: `pw-${username}`,
  });
  const credentials = {
    fetch: jest.fn((t: TenantDirectoryEntry) => Promise.resolve(login(`${t.slug}_app`))),
    fetchRestoreCopy: jest.fn((t: TenantDirectoryEntry, copy: RestoreCopyEntry) =>
      Promise.resolve(login(`${t.slug}_app_reader_${copy.run}`)),
    ),
  };
  const router = new TenantRouter(directory, credentials, {
    ...defaults,
    clock: () => now,
    createDataSource: (options: DataSourceOptions) => {
      const ds = new FakeDataSource(options as PostgresConnectionOptions);
      created.push(ds);
      return ds as unknown as DataSource;
    },
    ...overrides,
  });
  routers.push(router);
  const tenant = (id = TENANT, status: TenantStatus = 'ACTIVE'): string => {
    tenants.set(id, {
      id,
      slug: 'acme',
      tier: 'pro',
      status,
      schemaVersion: '0002',
      placement: { kind: 'instance' },
      region: null,
      routeVersion: 1,
      writesPaused: false,
    });
    return id;
  };
  const copy = (
    run: number,
    fields: { status?: RestoreCopyStatus; expiresInMs?: number; tenantId?: string } = {},
  ): void => {
    const tenantId = fields.tenantId ?? TENANT;
    copies.set(`${tenantId}/${run}`, {
      tenantId,
      run,
      status: fields.status ?? 'AVAILABLE',
      region: null,
      readerSecretName: `silo/restore-acme-${run}/app`,
      expiresAt: new Date(Date.now() + (fields.expiresInMs ?? HOUR)),
    });
  };
  const read = (run: number, tenantId = TENANT) =>
    router.readRestoreCopy(tenantId, run, (manager) => Promise.resolve(manager));
  return {
    router,
    directory,
    credentials,
    created,
    tenant,
    copy,
    read,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function refusal(promise: Promise<unknown>): Promise<TenantAccessError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TenantAccessError);
  return error as TenantAccessError;
}

describe('TenantRouter.readRestoreCopy', () => {
  it('runs the work in one READ ONLY transaction on a DataSource of the copy’s own, logged in with its reader secret', async () => {
    const h = harness({ restoreCopies: { poolSize: 3 } });
    h.tenant();
    h.copy(4);
    await expect(h.read(4)).resolves.toEqual({ fake: 'manager' });

    expect(h.directory.findRestoreCopy).toHaveBeenCalledWith(TENANT, 4);
    expect(h.credentials.fetchRestoreCopy).toHaveBeenCalledTimes(1);
    expect(h.credentials.fetchRestoreCopy.mock.calls[0][1]).toMatchObject({
      run: 4,
      readerSecretName: 'silo/restore-acme-4/app',
    });
    expect(h.credentials.fetch).not.toHaveBeenCalled();
    expect(h.created).toHaveLength(1);
    const [copy] = h.created;
    expect(copy.user).toBe('acme_app_reader_4');
    expect(copy.steps).toEqual([
      'connect',
      'start',
      ['query', READ_ONLY_TRANSACTION_SQL],
      'commit',
      'release',
    ]);
    // Its own pool, not opened through the tenants' connection gate (no gated Client class).
    expect(copy.options.extra).toMatchObject({
      max: 3,
      application_name: RESTORE_COPY_APPLICATION_NAME,
      // No search path: the reader's role default names the copy's schema (app, or a schema tenant's).
      options: `-c app.tenant_id=${TENANT}`,
    });
    expect((copy.options.extra as { Client?: unknown }).Client).toBeUndefined();
    expect(h.router.stats()).toMatchObject({
      open: 0,
      leases: 0,
      restoreCopies: { open: 1, leases: 0, refusals: 0 },
    });
  });

  it('never gives the tenant’s own leases the copy, nor the copy lease the tenant’s login', async () => {
    const h = harness();
    h.tenant();
    h.copy(1);
    await h.read(1);
    const own = await h.router.transaction(TENANT, (manager) => Promise.resolve(manager));
    expect(own).toEqual({ fake: 'manager' });
    const lease = await h.router.acquire(TENANT);
    try {
      expect(h.created.map((d) => d.user)).toEqual(['acme_app_reader_1', 'acme_app']);
      expect(lease.dataSource).toBe(h.created[1]);
      // The tenant's transaction is an ordinary one: no READ ONLY, on its own DataSource.
      expect(h.created[1].steps).toEqual(['connect', 'start', 'commit', 'release']);
    } finally {
      lease.release();
    }
    await h.read(1);
    expect(h.credentials.fetch).toHaveBeenCalledTimes(1);
    expect(h.credentials.fetchRestoreCopy).toHaveBeenCalledTimes(1);
    expect(h.router.stats()).toMatchObject({ open: 1, restoreCopies: { open: 1 } });
  });

  it('refuses a run the tenant has no copy of, and what is not a run without asking, with RESTORE_COPY_NOT_FOUND', async () => {
    const h = harness();
    h.tenant();
    h.copy(1, { tenantId: '9c1a1f0e-1111-4a2b-8c3d-000000000001' });
    const unknown = await refusal(h.read(1));
    expect(unknown).toMatchObject({
      code: TenantAccessErrorCode.RESTORE_COPY_NOT_FOUND,
      details: { tenantId: TENANT, run: 1 },
    });
    expect(unknown.message).toBe(`tenant ${TENANT} has no restore copy 1`);
    h.directory.findRestoreCopy.mockClear();
    for (const run of [0, -1, 1.5, Number.NaN])
      expect((await refusal(h.read(run))).code).toBe(TenantAccessErrorCode.RESTORE_COPY_NOT_FOUND);
    expect(h.directory.findRestoreCopy).not.toHaveBeenCalled();
    expect(h.created).toHaveLength(0);
    expect(h.router.stats().restoreCopies.refusals).toBe(5);
  });

  it.each([
    ['removed', 'REMOVED', HOUR, /was removed/],
    ['being removed', 'REMOVING', HOUR, /is being removed/],
    ['past its expiry', 'AVAILABLE', -1_000, /expired at/],
  ] as const)(
    'refuses a copy %s with RESTORE_COPY_EXPIRED, opening nothing',
    async (_what, status, expiresInMs, why) => {
      const h = harness();
      h.tenant();
      h.copy(2, { status, expiresInMs });
      const error = await refusal(h.read(2));
      expect(error).toMatchObject({
        code: TenantAccessErrorCode.RESTORE_COPY_EXPIRED,
        details: { tenantId: TENANT, run: 2, copyStatus: status },
      });
      expect(error.message).toMatch(why);
      expect(h.credentials.fetchRestoreCopy).not.toHaveBeenCalled();
      expect(h.created).toHaveLength(0);
    },
  );

  it('refuses the copies of an unknown tenant and of one not ACTIVE as the tenant’s own leases are refused', async () => {
    const h = harness();
    h.copy(1);
    expect((await refusal(h.read(1))).code).toBe(TenantAccessErrorCode.TENANT_NOT_FOUND);
    h.tenant(TENANT, 'SUSPENDED');
    h.advance(2_000);
    expect(await refusal(h.read(1))).toMatchObject({
      code: TenantAccessErrorCode.TENANT_NOT_ACTIVE,
      details: { status: 'SUSPENDED' },
    });
    expect(h.directory.findRestoreCopy).not.toHaveBeenCalled();
  });

  it('opens a copy once for concurrent callers and trusts its lookup for the status TTL', async () => {
    const h = harness();
    h.tenant();
    h.copy(3);
    await Promise.all([h.read(3), h.read(3), h.read(3)]);
    await h.read(3);
    expect(h.directory.findRestoreCopy).toHaveBeenCalledTimes(1);
    expect(h.credentials.fetchRestoreCopy).toHaveBeenCalledTimes(1);
    expect(h.created).toHaveLength(1);
    h.advance(1_000);
    await h.read(3);
    expect(h.directory.findRestoreCopy).toHaveBeenCalledTimes(2);
  });

  it('closes a copy’s DataSource once the directory shows it removed, and refuses it from then on', async () => {
    const h = harness();
    h.tenant();
    h.copy(1);
    await h.read(1);
    h.copy(1, { status: 'REMOVING' });
    // Within the TTL the cached lookup still serves it.
    await h.read(1);
    h.advance(1_000);
    expect((await refusal(h.read(1))).code).toBe(TenantAccessErrorCode.RESTORE_COPY_EXPIRED);
    expect(h.created[0].destroyed).toBe(true);
    expect(h.router.stats().restoreCopies.open).toBe(0);
  });

  it('closes a copy unused for idleTimeoutMs, and one whose expiry passed, at the sweep', async () => {
    const h = harness();
    h.tenant();
    h.copy(1);
    h.copy(2, { expiresInMs: 150 });
    await h.read(1);
    await h.read(2);
    expect(h.router.closeIdle()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(h.router.closeIdle()).toBe(1);
    expect(h.created.map((d) => [d.user, d.destroyed])).toEqual([
      ['acme_app_reader_1', false],
      ['acme_app_reader_2', true],
    ]);
    h.advance(60_000);
    expect(h.router.closeIdle()).toBe(1);
    expect(h.created[0].destroyed).toBe(true);
    // Opened again on the next lease.
    await h.read(1);
    expect(h.created).toHaveLength(3);
  });

  it('keeps at most restoreCopies.maxOpen copies open: closes the least recently used idle one, refuses while all are leased', async () => {
    const h = harness({ restoreCopies: { maxOpen: 2 } });
    h.tenant();
    for (const run of [1, 2, 3]) h.copy(run);
    await h.read(1);
    await h.read(2);
    await h.read(1);
    await h.read(3);
    expect(h.created.map((d) => [d.user, d.destroyed])).toEqual([
      ['acme_app_reader_1', false],
      ['acme_app_reader_2', true],
      ['acme_app_reader_3', false],
    ]);

    let finish: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const busy = [1, 3].map((run) => h.router.readRestoreCopy(TENANT, run, () => held));
    await new Promise((resolve) => setImmediate(resolve));
    const full = await refusal(h.read(2));
    expect(full.code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
    expect(full.message).toMatch(/restoreCopies.maxOpen/);
    finish();
    await Promise.all(busy);
    // The tenant's own DataSources are bounded apart: a tenant lease still opens.
    await h.router.transaction(TENANT, () => Promise.resolve());
    expect(h.router.stats()).toMatchObject({ open: 1, restoreCopies: { open: 2, leases: 0 } });
  });

  it('passes a write the copy refuses (25006) through as it is, without taking the tenant for moved', async () => {
    const h = harness();
    h.tenant();
    h.copy(1);
    await h.router.transaction(TENANT, () => Promise.resolve());
    const finds = h.directory.find.mock.calls.length;
    const refused = Object.assign(new Error('cannot execute INSERT in a read-only transaction'), {
      code: '25006',
    });
    await expect(h.router.readRestoreCopy(TENANT, 1, () => Promise.reject(refused))).rejects.toBe(refused);
    expect(h.created[1].steps).toContain('rollback');
    expect(h.router.stats().moves.refusals).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.directory.find).toHaveBeenCalledTimes(finds);
  });

  it('says what is missing when the directory or the credential source reads no restore copies', async () => {
    const entry = {
      id: TENANT,
      slug: 'acme',
      tier: 'pro',
      status: 'ACTIVE',
      schemaVersion: null,
      placement: { kind: 'instance' },
      region: null,
      routeVersion: 1,
      writesPaused: false,
    } as const;
    const withTenant = new TenantRouter(
      { find: () => Promise.resolve(entry) },
      { fetch: () => Promise.reject(new Error('unused')) },
      defaults,
    );
    routers.push(withTenant);
    await expect(withTenant.readRestoreCopy(TENANT, 1, () => Promise.resolve())).rejects.toThrow(
      /needs findRestoreCopy and its credential source fetchRestoreCopy/,
    );
  });

  it('refuses new copy leases once closed, and destroys the copies’ DataSources', async () => {
    const h = harness();
    h.tenant();
    h.copy(1);
    await h.read(1);
    await h.router.close();
    expect(h.created[0].destroyed).toBe(true);
    expect((await refusal(h.read(1))).code).toBe(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE);
  });

  it('is answered 404 for an unknown copy and 410 Gone for an expired or removed one', () => {
    const answer = (code: TenantAccessErrorCode) =>
      tenantAccessAnswer(
        new TenantAccessError(code, 'router says no', { tenantId: TENANT, run: 7, copyStatus: 'REMOVED' }),
      );
    expect(answer(TenantAccessErrorCode.RESTORE_COPY_NOT_FOUND)).toMatchObject({
      status: 404,
      body: { status: 404, title: 'Not Found', run: 7 },
      headers: {},
    });
    expect(answer(TenantAccessErrorCode.RESTORE_COPY_EXPIRED)).toMatchObject({
      status: 410,
      body: { status: 410, title: 'Gone', run: 7, copyStatus: 'REMOVED' },
      headers: {},
    });
  });
});
