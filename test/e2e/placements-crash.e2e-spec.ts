import { allInstances } from '../support/all-instances';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
} from '@aws-sdk/client-secrets-manager';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AwsClients } from '../../libs/aws/src';
import { controlPlaneDataSourceOptions, HostEntity, TenantEntity } from '../../libs/control-plane-db/src';
import { hostResourceNames, tenantResourceNames } from '../../libs/core/src';
import { loadTierProfiles, TenantOnboarding } from '../../libs/fleet/src';
import { readTenantLedger } from '../../libs/tenant-schema/src';
import { removeTenantInstancesUnder } from '../support/local-tenant-instance';
import { builtInTierProfilesFile } from '../support/built-in-tier-profiles';
import { builtEntry, SiloProcess } from '../support/silo-process';
import { fastLocalSagaEnvironment, testConfig, testEnvironment, uniqueToken } from '../support/test-config';
import { createOwnDatabase, dropDatabase } from '../support/test-databases';
import { instanceAdminUrl } from '../support/test-services';

jest.setTimeout(300_000);

const WORKER = 'apps/provisioning-worker/src/main.js';
// Its 0002 and 0003 sleep 0.4 s each, so that kills land while a pool database or a tenant's schema is migrated.
const SLOW_MIGRATIONS = resolve(__dirname, '../fixtures/tenant-migrations/slow-everywhere');
const CTX = { actor: 'ops-test', correlationId: 'placements-crash' };

/** One control-plane database, resource prefix, queue and set of workers per describe. */
class SharedFleet {
  readonly prefix: string;
  readonly tiersFile = builtInTierProfilesFile();
  env!: Record<string, string>;
  ds!: DataSource;
  aws!: AwsClients;
  onboarding!: TenantOnboarding;
  private database!: { name: string; url: string };
  private readonly workers: SiloProcess[] = [];
  readonly output: string[] = [];

  constructor(
    private readonly label: string,
    private readonly extraEnv: Record<string, string> = {},
  ) {
    this.prefix = `${label}${uniqueToken(3)}`;
  }

  async start(): Promise<void> {
    this.database = await createOwnDatabase(`placements_${this.label}`);
    this.env = testEnvironment({
      DATABASE_URL: this.database.url,
      SILO_RESOURCE_PREFIX: this.prefix,
      SILO_TIER_PROFILES_FILE: this.tiersFile,
      ...fastLocalSagaEnvironment(),
      WORKER_LOCK_DURATION_MS: '1500',
      WORKER_CONCURRENCY: '4',
      LOG_LEVEL: 'info',
      ...this.extraEnv,
    });
    this.aws = new AwsClients(testConfig(this.env));
    this.ds = await new DataSource(
      controlPlaneDataSourceOptions({
        url: this.database.url,
        poolMax: 4,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    ).initialize();
    this.onboarding = new TenantOnboarding(this.ds, { tiers: loadTierProfiles(this.tiersFile) });
  }

  async stop(): Promise<void> {
    for (const w of this.workers) w.kill();
    await this.ds?.destroy();
    this.aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(this.prefix);
    if (this.database) await dropDatabase(this.database.name);
  }

  worker(): SiloProcess {
    const p = SiloProcess.node(builtEntry(WORKER), this.env);
    void p.exited.then(() => this.output.push(p.stdout, p.stderr));
    this.workers.push(p);
    return p;
  }

  async onboard(tier: 'starter' | 'pro', label: string): Promise<TenantEntity> {
    const slug = `${label}-${uniqueToken(2)}`;
    return (await this.onboarding.createTenant({ slug, name: label, tier }, CTX)).tenant;
  }

  async tenants(ids: string[]): Promise<TenantEntity[]> {
    const rows = await this.ds.getRepository(TenantEntity).findBy(ids.map((id) => ({ id })));
    return ids.map((id) => rows.find((r) => r.id === id)!);
  }

  hosts(): Promise<HostEntity[]> {
    return this.ds.getRepository(HostEntity).find({ order: { name: 'ASC' } });
  }

  /** Waits until every tenant is `status`; a tenant FAILED on the way fails the test with its reason. */
  async until(ids: string[], status: string, timeoutMs = 120_000): Promise<TenantEntity[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await this.tenants(ids);
      expect(
        rows
          .filter((r) => r.status === 'FAILED')
          .map((r) => `${r.slug}: ${r.failureStep} ${r.failureMessage}`),
      ).toEqual([]);
      if (rows.every((r) => r.status === status)) return rows;
      if (Date.now() > deadline)
        throw new Error(`still ${rows.map((r) => `${r.slug} ${r.status}`).join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The tenants' steps of `saga` and their hosts' steps now running, as `tenant:<step>` and `host:<step>`. */
  async running(ids: string[], saga: 'provision' | 'deprovision'): Promise<string[]> {
    const rows = await this.ds.query<{ s: string }[]>(
      `SELECT 'tenant:' || step AS s FROM provisioning_steps
        WHERE tenant_id = ANY($1) AND saga = $2 AND status = 'running'
       UNION ALL
       SELECT 'host:' || step FROM host_steps WHERE status = 'running'`,
      [ids, saga],
    );
    return rows.map((r) => r.s);
  }

  /**
   * Up to one round per target: a fresh worker, waiting until one of the targets it has not
   * killed in yet is running (a step of `ids`' saga, `tenant:<step>`, or of a host's,
   * `host:<step>`), then SIGKILL. Returns every step that was running at a kill.
   */
  async killRounds(
    ids: string[],
    saga: 'provision' | 'deprovision',
    targets: string[],
    settled: () => Promise<boolean>,
  ): Promise<Set<string>> {
    const killedDuring = new Set<string>();
    const fresh = (running: string[]) => running.some((s) => targets.includes(s) && !killedDuring.has(s));
    for (let round = 0; round < targets.length && !(await settled()); round++) {
      const worker = this.worker();
      const started = Date.now();
      let running = await this.running(ids, saga);
      while (!fresh(running) && Date.now() - started < 20_000 && !(await settled())) {
        await new Promise((r) => setTimeout(r, 2));
        running = await this.running(ids, saga);
      }
      worker.child.kill('SIGKILL');
      await worker.exitWithin(10_000);
      running.forEach((s) => killedDuring.add(s));
    }
    return killedDuring;
  }

  /** Starts a worker that finishes the work, and stops it cleanly once `settled`. */
  async finish(settled: () => Promise<unknown>): Promise<void> {
    const last = this.worker();
    await settled();
    // A worker asked to stop while it is still booting dies by the signal; wait until it is up.
    await last.waitFor(
      () => last.logLines().some((l) => l.msg === 'taking provisioning jobs'),
      'the worker to take jobs',
    );
    last.child.kill('SIGTERM');
    expect(await last.exitWithin(15_000)).toEqual({ code: 0, signal: null });
  }

  /** Runs `work` on the host's database as its owner (the host's master secret). */
  async asHostOwner<T>(hostName: string, work: (client: Client) => Promise<T>): Promise<T> {
    const secret = await this.secretJson(hostResourceNames(this.prefix, hostName).masterSecretName);
    const client = new Client({
      host: String(secret.host),
      port: Number(secret.port),
      database: String(secret.dbname),
      user: String(secret.username),
      password: String(secret.password),
    });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  async secretJson(name: string): Promise<Record<string, string | number>> {
    const { SecretString } = await this.aws.secretsManager.send(
      new GetSecretValueCommand({ SecretId: name }),
    );
    return JSON.parse(SecretString!) as Record<string, string | number>;
  }

  /** What exists under the prefix: RDS instances and secrets in the emulator, databases and roles on PostgreSQL. */
  async inventory(): Promise<{
    instances: string[];
    secrets: string[];
    databases: string[];
    roles: string[];
  }> {
    const DBInstances = await allInstances(this.aws.rds);
    const secrets: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.aws.secretsManager.send(
        new ListSecretsCommand({ MaxResults: 100, NextToken: token }),
      );
      for (const s of page.SecretList ?? []) if (s.Name?.startsWith(`${this.prefix}/`)) secrets.push(s.Name);
      token = page.NextToken;
    } while (token);
    const admin = new Client({ connectionString: instanceAdminUrl() });
    await admin.connect();
    try {
      const databases = await admin.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1`,
        [`${this.prefix}-%`],
      );
      const roles = await admin.query<{ rolname: string }>(
        `SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1`,
        [`${this.prefix}\\_%`],
      );
      return {
        instances: (DBInstances ?? [])
          .map((i) => i.DBInstanceIdentifier!)
          .filter((id) => id.startsWith(`${this.prefix}-`))
          .sort(),
        secrets: secrets.sort(),
        databases: databases.rows.map((r) => r.datname),
        roles: roles.rows.map((r) => r.rolname),
      };
    } finally {
      await admin.end();
    }
  }

  /** How many `step.completed` events each tenant has per step of `saga`: 1 each when nothing ran twice. */
  async completions(ids: string[], saga: 'provision' | 'deprovision'): Promise<Record<string, number>> {
    const rows = await this.ds.query<{ k: string; n: number }[]>(
      `SELECT tenant_id || ' ' || (data->>'step') AS k, count(*)::int AS n FROM tenant_events
        WHERE tenant_id = ANY($1) AND type = 'step.completed' AND data->>'saga' = $2 GROUP BY 1`,
      [ids, saga],
    );
    return Object.fromEntries(rows.map((r) => [r.k, r.n]));
  }
}

/**
 * Everything under the prefix when every pooled tenant is on pool-starter-001 and every schema
 * tenant (`schemaTenants`) on schema-pro-001: each host's instance, database, secrets and roles
 * once, each schema tenant's app secret, app role and login once, nothing of a pooled tenant's own.
 */
function expectedInventory(
  prefix: string,
  schemaTenants: TenantEntity[],
): { instances: string[]; secrets: string[]; databases: string[]; roles: string[] } {
  const pool = hostResourceNames(prefix, 'pool-starter-001');
  const schema = hostResourceNames(prefix, 'schema-pro-001');
  const tenants = schemaTenants.map((t) => tenantResourceNames(prefix, t.slug));
  return {
    instances: [pool.instanceIdentifier, schema.instanceIdentifier].sort(),
    secrets: [
      pool.masterSecretName,
      pool.poolAppSecretName,
      schema.masterSecretName,
      ...tenants.map((n) => n.appSecretName),
    ].sort(),
    databases: [pool.instanceIdentifier, schema.instanceIdentifier].sort(),
    roles: [
      pool.masterUsername,
      pool.poolAppRole,
      `${pool.poolAppRole}_a`,
      schema.masterUsername,
      ...tenants.flatMap((n) => [n.appRole, `${n.appRole}_a`]),
    ].sort(),
  };
}

describe('shared placements survive SIGKILL of the worker', () => {
  const fleet = new SharedFleet('pcr', { TENANT_MIGRATIONS_DIR: SLOW_MIGRATIONS });
  let pooled: TenantEntity[] = [];
  let bridged: TenantEntity[] = [];

  beforeAll(() => fleet.start());
  afterAll(() => fleet.stop());

  it('onboards pool and schema tenants with no host yet, killed in host and tenant steps: each ACTIVE, one host each, nothing made twice', async () => {
    pooled = [await fleet.onboard('starter', 'pool-a'), await fleet.onboard('starter', 'pool-b')];
    bridged = [await fleet.onboard('pro', 'schema-a'), await fleet.onboard('pro', 'schema-b')];
    const ids = [...pooled, ...bridged].map((t) => t.id);
    const settled = async () => (await fleet.tenants(ids)).every((t) => t.status === 'ACTIVE');

    const killedDuring = await fleet.killRounds(
      ids,
      'provision',
      [
        'tenant:place',
        'host:create-instance',
        'host:wait-available',
        'host:pool-role',
        'host:migrate-pool',
        'tenant:bootstrap-database',
        'tenant:run-migrations',
      ],
      settled,
    );
    await fleet.finish(() => fleet.until(ids, 'ACTIVE'));

    // The kills landed inside several steps, of the hosts' sagas and of the tenants'.
    const landed = [...killedDuring];
    expect({
      landed,
      inHostSteps: landed.some((s) => s.startsWith('host:')),
      inTenantSteps: landed.some((s) => s.startsWith('tenant:')),
    }).toMatchObject({ inHostSteps: true, inTenantSteps: true });
    expect(landed.length).toBeGreaterThanOrEqual(4);

    const rows = await fleet.tenants(ids);
    expect(rows.map((t) => [t.placement, t.status, t.schemaVersion, t.provisioningRun])).toEqual([
      ['pool', 'ACTIVE', '0003', 1],
      ['pool', 'ACTIVE', '0003', 1],
      ['schema', 'ACTIVE', '0003', 1],
      ['schema', 'ACTIVE', '0003', 1],
    ]);
    const hosts = await fleet.hosts();
    expect(hosts.map((h) => [h.name, h.status, h.schemaVersion])).toEqual([
      ['pool-starter-001', 'available', '0003'],
      ['schema-pro-001', 'available', null],
    ]);
    expect(rows.map((t) => hosts.find((h) => h.id === t.hostId)?.name)).toEqual([
      'pool-starter-001',
      'pool-starter-001',
      'schema-pro-001',
      'schema-pro-001',
    ]);
    const hostSteps = await fleet.ds.query<{ status: string }[]>(`SELECT DISTINCT status FROM host_steps`);
    expect(hostSteps).toEqual([{ status: 'done' }]);

    // Nothing twice: exactly the hosts' instances, secrets, databases and roles, and the schema
    // tenants' app secrets and roles; every step completed once; every migration applied once.
    expect(await fleet.inventory()).toEqual(expectedInventory(fleet.prefix, bridged));
    expect(Object.values(await fleet.completions(ids, 'provision'))).toEqual(
      Array(pooled.length * 3 + bridged.length * 5).fill(1),
    );
    const schemas = await fleet.asHostOwner('schema-pro-001', (client) =>
      client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 ORDER BY 1`, [
        `${fleet.prefix}\\_%`,
      ]),
    );
    expect(schemas.rows.map((r) => r.nspname)).toEqual(
      bridged.map((t) => tenantResourceNames(fleet.prefix, t.slug).tenantSchema).sort(),
    );
    const owner = async (hostName: string) => {
      const s = await fleet.secretJson(hostResourceNames(fleet.prefix, hostName).masterSecretName);
      return {
        host: String(s.host),
        port: Number(s.port),
        database: String(s.dbname),
        user: String(s.username),
        password: String(s.password),
      };
    };
    const poolLedger = await readTenantLedger(await owner('pool-starter-001'), {
      placement: 'pool',
      schema: 'app',
    });
    expect(poolLedger.map((e) => e.version)).toEqual(['0001', '0002', '0003']);
    for (const t of bridged) {
      const ledger = await readTenantLedger(await owner('schema-pro-001'), {
        placement: 'schema',
        schema: tenantResourceNames(fleet.prefix, t.slug).tenantSchema,
      });
      expect(ledger.map((e) => e.version)).toEqual(['0001', '0002', '0003']);
    }

    // Each schema tenant's login, with the password its secret holds, reads its own schema.
    for (const t of bridged) {
      const app = await fleet.secretJson(tenantResourceNames(fleet.prefix, t.slug).appSecretName);
      const client = new Client({
        host: String(app.host),
        port: Number(app.port),
        database: String(app.dbname),
        user: String(app.username),
        password: String(app.password),
      });
      await client.connect();
      try {
        await client.query(`INSERT INTO notes (text) VALUES ('kept')`);
        expect((await client.query(`SELECT tenant_id FROM notes`)).rows).toEqual([{ tenant_id: t.id }]);
      } finally {
        await client.end();
      }
    }

    // No password in any worker's output.
    const logs = fleet.output.join('\n');
    expect(logs.length).toBeGreaterThan(1000);
    const secrets = [
      ...(await fleet.inventory()).secrets.map(async (name) => (await fleet.secretJson(name)).password),
    ];
    for (const password of await Promise.all(secrets)) {
      expect(typeof password).toBe('string');
      expect(logs.includes(String(password))).toBe(false);
    }
  });

  it('deletes a pool and a schema tenant, killed while exporting, dropping and deleting rows: both DELETED, one export each, the neighbours untouched', async () => {
    const [leavingPool, stayingPool] = pooled;
    const [leavingSchema, stayingSchema] = bridged;
    // Enough of the leaving tenant's rows that exporting and deleting them in batches takes a while.
    await fleet.asHostOwner('pool-starter-001', async (client) => {
      for (const [t, count] of [
        [leavingPool, 30_000],
        [stayingPool, 5],
      ] as const) {
        await client.query('BEGIN');
        await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [t.id]);
        await client.query(
          `INSERT INTO app.notes (text) SELECT 'note ' || g FROM generate_series(1, $1::int) g`,
          [count],
        );
        await client.query('COMMIT');
      }
    });
    const ids = [leavingPool.id, leavingSchema.id];
    for (const id of ids) await fleet.onboarding.requestDeletion(id, CTX);
    const settled = async () => (await fleet.tenants(ids)).every((t) => t.status === 'DELETED');

    const killedDuring = await fleet.killRounds(
      ids,
      'deprovision',
      ['tenant:export-rows', 'tenant:export-schema', 'tenant:delete-rows', 'tenant:drop-schema'],
      settled,
    );
    await fleet.finish(() => fleet.until(ids, 'DELETED'));
    expect(killedDuring.size).toBeGreaterThanOrEqual(2);

    // The pool: the leaving tenant's rows gone, the staying one's kept, ACTIVE.
    const poolDatabase = new URL(instanceAdminUrl());
    poolDatabase.pathname = `/${hostResourceNames(fleet.prefix, 'pool-starter-001').instanceIdentifier}`;
    const admin = new Client({ connectionString: poolDatabase.toString() });
    await admin.connect();
    const { rows: counts } = await admin
      .query<{ tenant_id: string; n: number }>(
        `SELECT tenant_id, count(*)::int AS n FROM app.notes GROUP BY 1`,
      )
      .finally(() => admin.end());
    expect(Object.fromEntries(counts.map((r) => [r.tenant_id, r.n]))).toEqual({ [stayingPool.id]: 5 });

    // The schema host: the leaving tenant's schema and roles gone, its secret scheduled for deletion.
    const leaving = tenantResourceNames(fleet.prefix, leavingSchema.slug);
    const staying = tenantResourceNames(fleet.prefix, stayingSchema.slug);
    const left = await fleet.asHostOwner('schema-pro-001', async (client) => ({
      schemas: (
        await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)`, [
          [leaving.tenantSchema, staying.tenantSchema],
        ])
      ).rows.map((r) => r.nspname),
      roles: (
        await client.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, [
          `${leaving.appRole}%`,
        ])
      ).rows,
    }));
    expect(left).toEqual({ schemas: [staying.tenantSchema], roles: [] });
    const secret = await fleet.aws.secretsManager.send(
      new DescribeSecretCommand({ SecretId: leaving.appSecretName }),
    );
    expect(secret.DeletedDate).toBeInstanceOf(Date);
    expect((await fleet.tenants([stayingPool.id, stayingSchema.id])).map((t) => t.status)).toEqual([
      'ACTIVE',
      'ACTIVE',
    ]);

    // One export object each, whatever the kills: a re-run writes the same key again, in full.
    const exported = await fleet.ds.query<{ tenant_id: string; data: { bucket: string; key: string } }[]>(
      `SELECT tenant_id, data FROM tenant_events WHERE tenant_id = ANY($1) AND type = 'step.completed'
          AND data->>'step' IN ('export-rows', 'export-schema')`,
      [ids],
    );
    expect(exported).toHaveLength(2);
    for (const t of [leavingPool, leavingSchema]) {
      const { data } = exported.find((e) => e.tenant_id === t.id)!;
      const { Contents } = await fleet.aws.s3.send(
        new ListObjectsV2Command({ Bucket: data.bucket, Prefix: `${fleet.prefix}/exports/${t.slug}/` }),
      );
      expect(Contents?.map((o) => o.Key)).toEqual([data.key]);
    }
    const rowsExport = exported.find((e) => e.tenant_id === leavingPool.id)!.data;
    const object = await fleet.aws.s3.send(
      new GetObjectCommand({ Bucket: rowsExport.bucket, Key: rowsExport.key }),
    );
    const lines = (await object.Body!.transformToString()).trim().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toEqual({ end: true, rows: { notes: 30_000 } });
    expect(Object.values(await fleet.completions(ids, 'deprovision'))).toEqual(Array(3 + 4).fill(1));
  });
});

describe('two worker replicas onboarding shared tenants at once', () => {
  const fleet = new SharedFleet('prp');

  beforeAll(() => fleet.start());
  afterAll(() => fleet.stop());

  it('makes one host per placement and runs each saga once', async () => {
    const [a, b] = [fleet.worker(), fleet.worker()];
    const tenants = await Promise.all([
      ...['r1', 'r2', 'r3'].map((l) => fleet.onboard('starter', `pool-${l}`)),
      ...['r1', 'r2', 'r3'].map((l) => fleet.onboard('pro', `schema-${l}`)),
    ]);
    const ids = tenants.map((t) => t.id);
    await fleet.until(ids, 'ACTIVE');
    for (const w of [a, b]) {
      await w.waitFor(
        () => w.logLines().some((l) => l.msg === 'taking provisioning jobs'),
        'the worker to take jobs',
      );
      w.child.kill('SIGTERM');
      expect(await w.exitWithin(15_000)).toEqual({ code: 0, signal: null });
    }

    const hosts = await fleet.hosts();
    expect(hosts.map((h) => [h.name, h.status])).toEqual([
      ['pool-starter-001', 'available'],
      ['schema-pro-001', 'available'],
    ]);
    // Every host step ran once: no step of a host started twice (waiting ones aside, none waited).
    const hostSteps = await fleet.ds.query<{ step: string; status: string; attempts: number }[]>(
      `SELECT step, status, attempts FROM host_steps ORDER BY host_id, position`,
    );
    expect(hostSteps.every((s) => s.status === 'done' && s.attempts === 1)).toBe(true);
    expect(hostSteps).toHaveLength(8 + 6);
    const logs = fleet.output.join('\n');
    for (const h of hosts) expect(logs.split(`"host ${h.name} is available"`).length - 1).toBe(1);

    expect((await fleet.tenants(ids)).map((t) => t.provisioningRun)).toEqual(ids.map(() => 1));
    expect(Object.values(await fleet.completions(ids, 'provision'))).toEqual(Array(3 * 3 + 3 * 5).fill(1));
    const activated = await fleet.ds.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM tenant_events WHERE tenant_id = ANY($1) AND type = 'tenant.activated'`,
      [ids],
    );
    expect(activated).toEqual([{ n: 6 }]);
    expect(await fleet.inventory()).toEqual(
      expectedInventory(
        fleet.prefix,
        tenants.filter((t) => t.placement === 'schema'),
      ),
    );
  });
});
