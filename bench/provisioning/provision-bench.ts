import 'reflect-metadata';
import { AwsClients, RdsInstances, TenantAlarms, TenantSecrets } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { ProvisioningSettings } from '@silo/fleet';
import { AwsCallCounter } from './aws-call-counter';
import { cleanupOutcome, log, runBench } from '../common/cleanup';
import { parseBenchArgs, USAGE, type BenchArgs } from './bench-args';
import { cleanUp, type BenchResources } from './bench-cleanup';
import {
  assertServicesAnswer,
  benchConfig,
  benchNames,
  createControlPlaneDatabase,
  databaseUrl,
  emulator,
  freePort,
  repositoryRoot,
} from './bench-environment';
import { formatReport } from './bench-report';
import { runBareAwsBaseline } from './bare-aws-baseline';
import { bootWorker, provisionThroughSaga } from './saga-run';

async function run(args: BenchArgs, res: BenchResources, signal: AbortSignal): Promise<string> {
  const { names } = res;
  log(
    `control plane ${names.database}, resource prefix ${names.resourcePrefix}, queue prefix ${names.queuePrefix}`,
  );
  await assertServicesAnswer(args.postgresUrl, args.redisUrl);
  signal.throwIfAborted();

  res.database = names.database;
  const controlPlaneUrl = databaseUrl(args.postgresUrl, names.database);
  await createControlPlaneDatabase(controlPlaneUrl);
  signal.throwIfAborted();

  const port = await freePort();
  res.emulatorPort = port;
  log(`starting the AWS emulator on 127.0.0.1:${port}`);
  await emulator(res.root, 'start', port);
  signal.throwIfAborted();

  const config = benchConfig({
    names,
    postgresUrl: args.postgresUrl,
    redisUrl: args.redisUrl,
    emulatorPort: port,
    concurrency: args.concurrency,
  });

  log(`baseline: ${args.tenants} tenants' AWS calls, ${args.concurrency} at a time`);
  const baselineAws = new AwsClients(config);
  res.baselineAws = baselineAws;
  const settings = new ProvisioningSettings(config);
  // One untimed tenant per tier first: moto sets up each service's backend on first use.
  await runBareAwsBaseline({
    aws: baselineAws,
    settings,
    tenants: 3,
    concurrency: 1,
    slug: (i) => `w${i}-${names.token}`,
    signal,
  });
  const baselineCounter = new AwsCallCounter();
  baselineCounter.attach(baselineAws);
  const baseline = await runBareAwsBaseline({
    aws: baselineAws,
    settings,
    tenants: args.tenants,
    concurrency: args.concurrency,
    slug: (i) => `u${i}-${names.token}`,
    signal,
  });
  signal.throwIfAborted();

  log(`saga: ${args.tenants} tenants through the worker, concurrency ${args.concurrency}`);
  const app = await bootWorker(config);
  res.app = app;
  const workerAws = app.get(AwsClients);
  await warmUp(workerAws, config);
  const sagaCounter = new AwsCallCounter();
  sagaCounter.attach(workerAws);
  res.tenantSlugs = Array.from({ length: args.tenants }, (_, i) => `t${i}-${names.token}`);
  const saga = await provisionThroughSaga({
    app,
    databaseUrl: controlPlaneUrl,
    slugs: res.tenantSlugs,
    signal,
  });

  const server = new URL(args.postgresUrl);
  return formatReport({
    tenants: args.tenants,
    concurrency: args.concurrency,
    where:
      `moto on 127.0.0.1:${port}, local instance backend on ${server.hostname}:${server.port || 5432}, ` +
      `control plane ${names.database}, resource prefix ${names.resourcePrefix}, queue prefix ${names.queuePrefix}`,
    saga,
    sagaCalls: sagaCounter.snapshot(),
    baseline,
    baselineCalls: baselineCounter.snapshot(),
  });
}

/** One call per service first, so neither phase pays for connection set-up or moto's lazy start. */
async function warmUp(aws: AwsClients, config: SiloConfig): Promise<void> {
  const name = `${config.resources.prefix}-warmup`;
  await new RdsInstances(aws).describe(name);
  await new TenantSecrets(aws).read(`${config.resources.prefix}/warmup/master`);
  await new TenantAlarms(aws).describe([name]);
}

runBench({
  usage: USAGE,
  parseArgs: parseBenchArgs,
  state: (args): BenchResources => ({
    names: benchNames(),
    root: repositoryRoot(),
    postgresUrl: args.postgresUrl,
    redisUrl: args.redisUrl,
    tenantSlugs: [],
  }),
  run,
  cleanUp: async (res, code) =>
    cleanupOutcome(
      await cleanUp(res, { keepEmulatorLog: code !== 0, log }),
      'tenant databases and roles, control-plane database, Redis keys, emulator',
      code,
    ),
  cleanupGraceMs: 180_000,
  graceExceededNote: ', something may be left behind',
  settleMs: 60_000,
  secondSignalNote: 'without finishing cleanup',
  stackOnFailure: false,
});
