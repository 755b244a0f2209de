import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateDBInstanceCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { AwsClients, FleetInventory, TenantAlarms } from '@silo/aws';
import { loadConfig, type SiloConfig } from '@silo/config';
import { controlPlaneDataSourceOptions } from '@silo/control-plane-db';
import { quoteIdentifier, tenantResourceNames, tenantTags, type TierName } from '@silo/core';
import {
  DEFAULT_TIER_PROFILES,
  reconcilerFleet,
  Reconciler,
  tenantAlarmSpecs,
  type ReconcileResult,
} from '@silo/fleet';
import pino from 'pino';
import { DataSource } from 'typeorm';
import { integer, parseFlags } from '../common/args';
import { cleanupOutcome, cleanupSteps, log, runBench } from '../common/cleanup';
import { alignedTable, ratio } from '../common/table';
import { AwsCallCounter } from '../provisioning/aws-call-counter';
import { withAdmin } from '../provisioning/bench-cleanup';
import {
  assertServicesAnswer,
  createControlPlaneDatabase,
  databaseUrl,
  emulator,
  freePort,
  repositoryRoot,
} from '../provisioning/bench-environment';
import { forEachLimited } from '../rollout/for-each-limited';

const POSTGRES_ADMIN_URL =
  process.env.SILO_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:bench-alarms';
const INTERVAL_S = 300;
/** 60% starter, 30% pro, 10% enterprise. */
const TIER_OF = (i: number): TierName => (i % 10 === 0 ? 'enterprise' : i % 10 <= 3 ? 'pro' : 'starter');

interface Args {
  tenants: number;
  passes: number;
  seedConcurrency: number;
  timeoutS: number;
}

interface State {
  root: string;
  prefix: string;
  database: string;
  emulatorPort?: number;
  databaseCreated?: boolean;
}

const USAGE = `usage: npm run bench:reconcile -- [options]

  --tenants N            ACTIVE tenants seeded in the emulator and the control plane (default 1000)
  --passes P             reconcile passes measured, one after another (default 4: a whole alarm sweep)
  --seed-concurrency C   AWS calls in flight while seeding (default 16)
  --timeout-s S          stop, clean up and exit 1 after S seconds (default 1800)

No tenant databases are made: the pass reads AWS and the control plane only. PostgreSQL is
postgres://postgres@127.0.0.1:5432/postgres, or SILO_TEST_POSTGRES_URL.
`;

function parseArgs(argv: string[]): Args | 'help' {
  const values = parseFlags(argv, {
    tenants: { type: 'string', default: '1000' },
    passes: { type: 'string', default: '4' },
    'seed-concurrency': { type: 'string', default: '16' },
    'timeout-s': { type: 'string', default: '1800' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  return {
    tenants: integer('--tenants', values.tenants, 1, 10_000),
    passes: integer('--passes', values.passes, 1, 20),
    seedConcurrency: integer('--seed-concurrency', values['seed-concurrency'], 1, 64),
    timeoutS: integer('--timeout-s', values['timeout-s'], 30, 24 * 3600),
  };
}

function benchConfig(state: State): SiloConfig {
  return loadConfig({
    envFile: false,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'silent',
      DATABASE_URL: databaseUrl(POSTGRES_ADMIN_URL, state.database),
      REDIS_URL: 'redis://127.0.0.1:6379',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: `http://127.0.0.1:${state.emulatorPort}`,
      AWS_EMULATOR: 'true',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      SILO_RESOURCE_PREFIX: state.prefix,
      SILO_ENVIRONMENT: 'bench',
      ALARM_SNS_TOPIC_ARN: TOPIC,
    },
  });
}

/** N ACTIVE tenants as provisioning leaves them: row, instance, two secrets, four alarms. */
async function seed(
  args: Args,
  state: State,
  dataSource: DataSource,
  aws: AwsClients,
  signal: AbortSignal,
): Promise<void> {
  const alarms = new TenantAlarms(aws);
  const tenants = Array.from({ length: args.tenants }, (_, i) => ({
    id: randomUUID(),
    slug: `t${String(i).padStart(5, '0')}-${randomBytes(2).toString('hex')}`,
    tier: TIER_OF(i),
  }));
  await forEachLimited(tenants, args.seedConcurrency, async (t) => {
    signal.throwIfAborted();
    const names = tenantResourceNames(state.prefix, t.slug);
    const profile = DEFAULT_TIER_PROFILES[t.tier];
    const tags = tenantTags(t, 'bench');
    const awsTags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    await aws.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: names.instanceIdentifier,
        Engine: 'postgres',
        EngineVersion: profile.engineVersion,
        DBInstanceClass: profile.instanceClass,
        AllocatedStorage: profile.storage.allocatedGiB,
        MasterUsername: names.masterUsername,
        MasterUserPassword: randomBytes(18).toString('base64url'),
        StorageEncrypted: true,
        MultiAZ: profile.multiAz,
        DeletionProtection: profile.deletionProtection,
        BackupRetentionPeriod: profile.backupRetentionDays,
        CopyTagsToSnapshot: true,
        PubliclyAccessible: false,
        Tags: awsTags,
      }),
    );
    for (const name of [names.masterSecretName, names.appSecretName]) {
      await aws.secretsManager.send(
        new CreateSecretCommand({ Name: name, SecretString: '{}', Tags: awsTags }),
      );
    }
    for (const spec of tenantAlarmSpecs(names, profile, { actions: [TOPIC], tags })) await alarms.put(spec);
  });
  await dataSource.query(
    `INSERT INTO tenants (id, slug, name, tier, status, db_instance_identifier)
     SELECT id, slug, slug, tier, 'ACTIVE', $2 || '-' || slug
       FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, slug text, tier text)`,
    [JSON.stringify(tenants), state.prefix],
  );
}

async function run(args: Args, state: State, signal: AbortSignal): Promise<string> {
  await assertServicesAnswer(POSTGRES_ADMIN_URL, 'redis://127.0.0.1:6379');
  state.emulatorPort = await freePort();
  log(`starting moto on port ${state.emulatorPort}`);
  await emulator(state.root, 'start', state.emulatorPort);
  const url = databaseUrl(POSTGRES_ADMIN_URL, state.database);
  state.databaseCreated = true;
  await createControlPlaneDatabase(url);
  const config = benchConfig(state);
  const dataSource = await new DataSource(
    controlPlaneDataSourceOptions({ url, poolMax: 4, connectTimeoutMs: 5000, applicationName: 'silo-bench' }),
  ).initialize();
  const aws = new AwsClients(config);
  try {
    const seedStarted = performance.now();
    log(`seeding ${args.tenants} tenants (instances, 2 secrets and 4 alarms each)`);
    await seed(args, state, dataSource, aws, signal);
    log(`seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s (not measured)`);

    const counter = new AwsCallCounter();
    counter.attach(aws);
    const pages = Math.ceil(args.tenants / 100);

    // Baseline, same run: the instance pages alone, as a loop of DescribeDBInstances.
    const baselineStarted = performance.now();
    let baselineCalls = 0;
    let marker: string | undefined;
    do {
      const page = await aws.rds.send(new DescribeDBInstancesCommand({ MaxRecords: 100, Marker: marker }));
      baselineCalls++;
      marker = page.Marker;
    } while (marker);
    const baselineMs = performance.now() - baselineStarted;

    const fleet = reconcilerFleet(
      new FleetInventory(aws),
      new TenantAlarms(aws),
      {
        prefix: state.prefix,
        environment: 'bench',
        tiers: DEFAULT_TIER_PROFILES,
        alarmActions: [TOPIC],
      },
      35,
    );
    // Which alarms the passes read, to check that the window goes round the whole fleet.
    const alarmsRead = new Set<string>();
    const access = fleet.access;
    fleet.access = {
      ...access,
      alarms: (names) => {
        for (const n of names) alarmsRead.add(n);
        return access.alarms(names);
      },
    };
    const queue = {
      jobFate: () => Promise.resolve('live' as const),
      discardCompleted: () => Promise.resolve(),
    };
    const reconciler = new Reconciler(
      dataSource,
      queue,
      { stuckGraceMs: 60_000 },
      fleet,
      pino({ level: 'silent' }),
    );

    const target = 4 * pages + 10;
    const rows: string[][] = [
      [
        'pass',
        'AWS calls',
        'by command',
        'calls ÷ ceil(N/100)',
        `≤ ${target}`,
        'wall',
        'wall ÷ baseline',
        `< ${INTERVAL_S / 10} s`,
      ],
      [
        'baseline: instance pages',
        String(baselineCalls),
        `DescribeDBInstances ${baselineCalls}`,
        ratio(baselineCalls, pages),
        '',
        `${(baselineMs / 1000).toFixed(2)} s`,
        '1.00×',
        '',
      ],
    ];
    let met = true;
    for (let i = 1; i <= args.passes; i++) {
      signal.throwIfAborted();
      const before = counter.snapshot().calls;
      const started = performance.now();
      const result = (await reconciler.pass('bench', `bench-${i}`)) as ReconcileResult;
      const ms = performance.now() - started;
      const after = counter.snapshot().calls;
      const byCommand = [...after]
        .map(([op, n]) => [op, n - (before.get(op) ?? 0)] as const)
        .filter(([, n]) => n);
      const calls = byCommand.reduce((sum, [, n]) => sum + n, 0);
      const f = result.fleet;
      if (!f || f.checked !== args.tenants || f.repaired || f.reported || f.critical || f.orphans) {
        throw new Error(
          `pass ${i} did not find the seeded fleet as provisioned (${JSON.stringify(f)}); the numbers would mean nothing`,
        );
      }
      const ok = calls <= target && ms < (INTERVAL_S / 10) * 1000;
      met &&= ok;
      rows.push([
        `pass ${i}`,
        String(calls),
        byCommand.map(([op, n]) => `${op} ${n}`).join(', '),
        ratio(calls, pages),
        calls <= target ? 'yes' : 'NO',
        `${(ms / 1000).toFixed(2)} s`,
        ratio(ms, baselineMs),
        ms < (INTERVAL_S / 10) * 1000 ? 'yes' : 'NO',
      ]);
    }
    const sweep = Math.ceil(args.tenants / (25 * pages));
    const swept = args.passes >= sweep ? alarmsRead.size === args.tenants * 4 : null;
    if (swept === false) {
      throw new Error(
        `after ${args.passes} passes the alarm window had read ${alarmsRead.size} of ${args.tenants * 4} alarms`,
      );
    }
    return [
      `reconcile pass over ${args.tenants} ACTIVE tenants (${pages} instance pages; moto, the local control plane)`,
      '',
      alignedTable(rows, (c) => c === 0 || c === 2),
      '',
      swept
        ? `alarm window: every tenant's ${args.tenants * 4} alarms read within ${sweep} pass(es)`
        : `alarm window: ${alarmsRead.size} of ${args.tenants * 4} alarms read (a sweep takes ${sweep} passes)`,
      `targets (calls ≤ 4·ceil(N/100)+10 = ${target}, a pass under a tenth of ${INTERVAL_S} s): ${met ? 'met' : 'NOT met'}`,
      '',
    ].join('\n');
  } finally {
    aws.onApplicationShutdown();
    await dataSource.destroy();
  }
}

async function cleanUp(state: State, code: number): Promise<number> {
  const { step, problems } = cleanupSteps(60_000);
  if (state.databaseCreated) {
    await step(`dropping ${state.database}`, () =>
      withAdmin(POSTGRES_ADMIN_URL, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(state.database)} WITH (FORCE)`);
      }),
    );
  }
  if (state.emulatorPort !== undefined) {
    const port = state.emulatorPort;
    await step(`stopping the emulator on port ${port}`, () => emulator(state.root, 'stop', port));
    rmSync(join(state.root, '.cache', 'emulator', `moto-${port}.log`), { force: true });
  }
  return cleanupOutcome(problems, 'database dropped, emulator stopped', code);
}

runBench<Args, State>({
  usage: USAGE,
  parseArgs,
  state: () => ({
    root: repositoryRoot(),
    prefix: `c${randomBytes(3).toString('hex').slice(0, 5)}`,
    database: `silo_bench_${randomBytes(5).toString('hex')}`,
  }),
  run,
  cleanUp,
  cleanupGraceMs: 90_000,
  graceExceededNote: '; drop silo_bench_* databases by hand',
  settleMs: 5000,
  secondSignalNote: 'without cleaning up',
  stackOnFailure: true,
});
