import 'reflect-metadata';
import { AwsClients, RdsInstances, TenantAlarms, TenantSecrets } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { ProvisioningSettings } from '@silo/provisioning';
import { AwsCallCounter } from './aws-call-counter';
import { parseBenchArgs, USAGE, UsageError, type BenchArgs } from './bench-args';
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

/** How long cleanup may take after an interrupt or the global timeout before the process gives up. */
const CLEANUP_GRACE_MS = 180_000;
/** How long the run gets to notice an abort and return before cleanup starts without it. */
const SETTLE_MS = 60_000;

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

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

async function main(): Promise<number> {
  let args: BenchArgs;
  try {
    const parsed = parseBenchArgs(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    args = parsed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}`);
    return 2;
  }

  const stop = new AbortController();
  const abort = (reason: string): void => {
    if (stop.signal.aborted) return;
    stop.abort(new Error(reason));
    // Cleanup is bounded step by step; this only catches a step that ignores its own bound.
    setTimeout(() => {
      log(
        `cleanup did not finish within ${CLEANUP_GRACE_MS / 1000} s; exiting, something may be left behind`,
      );
      process.exit(1);
    }, CLEANUP_GRACE_MS).unref();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      log(`second ${signal}: exiting without finishing cleanup`);
      process.exit(130);
    }
    log(`${signal}: stopping and cleaning up (again to exit at once)`);
    abort(`interrupted by ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timer = setTimeout(() => abort(`timed out after ${args.timeoutS} s`), args.timeoutS * 1000);

  const res: BenchResources = {
    names: benchNames(),
    root: repositoryRoot(),
    postgresUrl: args.postgresUrl,
    redisUrl: args.redisUrl,
    tenantSlugs: [],
  };
  let code = 0;
  const work = run(args, res, stop.signal);
  try {
    process.stdout.write(await untilAborted(work, stop.signal));
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    code = 1;
  } finally {
    clearTimeout(timer);
    // Let the run see the abort and return before removing what it made.
    await Promise.race([work.catch(() => undefined), sleep(SETTLE_MS)]);
    const problems = await cleanUp(res, { keepEmulatorLog: code !== 0, log });
    for (const problem of problems) log(`cleanup: ${problem}`);
    if (problems.length) code = 1;
    else log('cleanup: done (tenant databases and roles, control-plane database, Redis keys, emulator)');
  }
  return code;
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason as Error);
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    }),
  ]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; a handle still open would keep a finished bench alive.
    setTimeout(() => {
      log('a handle is still open after cleanup; exiting');
      process.exit(code);
    }, 5000).unref();
  },
  (error: unknown) => {
    log(`unexpected: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
