import { resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { AwsClients, TenantSecrets } from '../../libs/aws/src';
import { controlPlaneDataSourceOptions, TenantEntity } from '../../libs/control-plane-db/src';
import { ProvisioningSettings, SchemaRollouts } from '../../libs/fleet/src';
import { createFleet, dropFleet, type FleetTenant } from '../../libs/fleet/test/rollout-fleet';
import { loadTenantMigrations, readTenantLedger } from '../../libs/tenant-schema/src';
import { builtInTierProfilesFile } from '../support/built-in-tier-profiles';
import { removeTenantInstancesUnder } from '../support/local-tenant-instance';
import { availableHost, type AvailableHost } from '../support/shared-host-fixture';
import { builtEntry, SiloProcess } from '../support/silo-process';
import { fastLocalSagaEnvironment, testConfig, testEnvironment, uniqueToken } from '../support/test-config';
import { createOwnDatabase, dropDatabase } from '../support/test-databases';

jest.setTimeout(240_000);

const WORKER = 'apps/provisioning-worker/src/main.js';
// 0002 and 0003 sleep 0.4 s each, so that kills land while migrations run; written for every
// placement, so that the pool database takes them too.
const SLOW_MIGRATIONS = resolve(__dirname, '../fixtures/tenant-migrations/slow-everywhere');
const POOLED = 10;
const prefix = `rc${uniqueToken(3)}`;
const KILLS = 4;

// The worker is SIGKILLed again and again during a rollout of 20 instance tenants and 10 pooled
// tenants of one pool host (one target, migrated by one job) and restarted each time; BullMQ
// hands the orphaned migrate jobs to the new process once their locks expire. Each migration
// commits with its ledger row, so the rollout converges with every migration once per target.
describe('a schema rollout survives SIGKILL of the worker', () => {
  let database: { name: string; url: string };
  let ds: DataSource;
  let aws: AwsClients;
  let env: Record<string, string>;
  const fleet: FleetTenant[] = [];
  let pool: AvailableHost;
  const pooled: string[] = [];
  let worker: SiloProcess | undefined;
  const output: string[] = [];

  beforeAll(async () => {
    database = await createOwnDatabase('rollout_crash');
    env = testEnvironment({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      TENANT_MIGRATIONS_DIR: SLOW_MIGRATIONS,
      ...fastLocalSagaEnvironment(),
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
      WORKER_LOCK_DURATION_MS: '1500',
      WORKER_CONCURRENCY: '4',
      LOG_LEVEL: 'debug',
    });
    const config = testConfig(env);
    aws = new AwsClients(config);
    ds = await new DataSource(
      controlPlaneDataSourceOptions({
        url: database.url,
        poolMax: 4,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    ).initialize();
    await createFleet({
      dataSource: ds,
      secrets: new TenantSecrets(aws),
      prefix,
      environment: 'test',
      tier: 'enterprise',
      count: 20,
      version: '0001',
      set: loadTenantMigrations({ dir: SLOW_MIGRATIONS }),
      registry: fleet,
    });
    // A pool host at 0001 with its pooled tenants: rows of the control plane, nothing of their own.
    pool = await availableHost({
      dataSource: ds,
      aws,
      prefix,
      placement: 'pool',
      tier: 'starter',
      ordinal: 1,
      capacity: POOLED,
      migrationsDir: SLOW_MIGRATIONS,
      target: '0001',
    });
    for (let i = 0; i < POOLED; i++) {
      const [{ id }] = await ds.query<{ id: string }[]>(
        `INSERT INTO tenants (slug, name, tier, status, created_by, placement, host_id, schema_version, created_at)
         VALUES ($1, $2, 'starter', 'ACTIVE', 'fixture', 'pool', $3, '0001', now() - interval '2 days' + $4 * interval '1 second')
         RETURNING id`,
        [`pooled-${uniqueToken(2)}-${i}`, `pooled ${i}`, pool.id, i],
      );
      pooled.push(id);
    }
  });

  afterAll(async () => {
    worker?.kill();
    await dropFleet(prefix, fleet);
    await removeTenantInstancesUnder(prefix);
    await ds?.destroy();
    aws?.onApplicationShutdown();
    if (database) await dropDatabase(database.name);
  });

  function startWorker(): SiloProcess {
    const p = SiloProcess.node(builtEntry(WORKER), env);
    void p.exited.then(() => output.push(p.stdout, p.stderr));
    return p;
  }

  async function states(id: string): Promise<Record<string, number>> {
    const rows: { state: string; n: number }[] = await ds.query(
      `SELECT state, count(*)::int AS n FROM schema_rollout_tenants WHERE rollout_id = $1 GROUP BY state`,
      [id],
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  it('ends SUCCEEDED with every ledger holding each migration once, in step with the control plane', async () => {
    const rollouts = new SchemaRollouts(ds, new ProvisioningSettings(testConfig(env)));
    const { rollout } = await rollouts.start(
      { canary: 2, waves: [50, 100], maxConcurrency: 4, failureThreshold: 1, pauseBetweenWaves: false },
      { actor: 'e2e-admin', correlationId: 'e2e' },
    );

    let killedWhileRunning = 0;
    for (let round = 0; round < KILLS; round++) {
      worker = startWorker();
      const before = (await states(rollout.id)).succeeded ?? 0;
      // Kill once this process has finished at least one tenant and others are running.
      const deadline = Date.now() + 30_000;
      let now = await states(rollout.id);
      while (((now.succeeded ?? 0) <= before || !now.running) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        now = await states(rollout.id);
      }
      if (now.running) killedWhileRunning++;
      worker.child.kill('SIGKILL');
      await worker.exitWithin(10_000);
    }

    worker = startWorker();
    const deadline = Date.now() + 120_000;
    let status = '';
    while (Date.now() < deadline) {
      status = (await rollouts.get(rollout.id)).rollout.status;
      if (status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const detail = await rollouts.get(rollout.id);
    expect({ status, failed: detail.tenants.filter((t) => t.state === 'failed') }).toEqual({
      status: 'SUCCEEDED',
      failed: [],
    });
    expect(detail.counts).toMatchObject({ succeeded: 20 + POOLED, pending: 0, running: 0 });
    expect(killedWhileRunning).toBeGreaterThanOrEqual(KILLS - 1);

    for (const t of fleet) {
      const ledger = await readTenantLedger(t.owner);
      expect(ledger.map((e) => [e.version, e.appliedBy])).toEqual([
        ['0001', 'fixture'],
        ['0002', `rollout:${rollout.id}`],
        ['0003', `rollout:${rollout.id}`],
      ]);
    }
    // The pool's ledger too: each migration once, for all its tenants.
    const poolLedger = await readTenantLedger(pool.owner, { placement: 'pool', schema: 'app' });
    expect(poolLedger.map((e) => [e.version, e.appliedBy])).toEqual([
      ['0001', 'host'],
      ['0002', `rollout:${rollout.id}`],
      ['0003', `rollout:${rollout.id}`],
    ]);
    const versions = await ds.getRepository(TenantEntity).find({ select: { schemaVersion: true } });
    expect(versions.map((v) => v.schemaVersion)).toEqual([...fleet, ...pooled].map(() => '0003'));
    const [host] = await ds.query<{ schema_version: string }[]>(
      `SELECT schema_version FROM hosts WHERE id = $1`,
      [pool.id],
    );
    expect(host.schema_version).toBe('0003');
    // Migrations re-run after a kill were re-dispatched only by BullMQ, never twice by the rollout.
    expect(detail.tenants.every((t) => t.attempt === 1)).toBe(true);
    const logs = [...output, worker.stdout, worker.stderr].join('\n');
    for (const t of fleet) expect(logs).not.toContain(t.owner.password);
  });
});
