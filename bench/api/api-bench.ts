import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { cleanupOutcome, log, runBench } from '../common/cleanup';
import {
  assertServicesAnswer,
  benchNames,
  createControlPlaneDatabase,
  databaseUrl,
} from '../provisioning/bench-environment';
import { parseApiBenchArgs, USAGE, type ApiBenchArgs } from './api-bench-args';
import { cleanUpApiBench, type ApiBenchResources } from './api-bench-cleanup';
import { formatApiReport, type RowResult } from './api-bench-report';
import { startBareApp } from './bare-app';
import { gatherFacts } from './bench-facts';
import { CallCounters } from './call-counters';
import type { Workload } from './load-generator';
import { measure, progress, target, unmeasured, type Measure, type Target } from './row-measurement';
import { apiConfig, opsAuthorization, startSiloApi } from './silo-api';

async function run(args: ApiBenchArgs, res: ApiBenchResources, signal: AbortSignal): Promise<string> {
  const { names } = res;
  log(`control plane ${names.database}, queue prefix ${names.queuePrefix}`);
  const loadBefore = loadavg()[0];
  await assertServicesAnswer(args.postgresUrl, args.redisUrl);
  signal.throwIfAborted();

  res.database = names.database;
  const controlPlaneUrl = databaseUrl(args.postgresUrl, names.database);
  await createControlPlaneDatabase(controlPlaneUrl);
  signal.throwIfAborted();

  const counters = new CallCounters();
  res.counters = counters;
  counters.install();

  // The bare app first: its `logger: false` would otherwise silence the API's logger.
  const track = (app: NestExpressApplication) => void res.apps.push(app);
  const bareApp = await startBareApp(track);
  const bare = target(bareApp);

  const jwtSecret = randomBytes(32).toString('hex');
  const configFor = (accessLog: boolean) =>
    apiConfig({
      names,
      databaseUrl: controlPlaneUrl,
      redisUrl: args.redisUrl,
      poolMax: args.poolMax,
      logLevel: args.logLevel,
      accessLog,
      jwtSecret,
    });
  const config = configFor(true);
  const apiApp = await startSiloApi(config, track);
  const api = target(apiApp);
  signal.throwIfAborted();

  const m: Measure = {
    counters,
    headers: { authorization: await opsAuthorization(config), accept: 'application/json' },
    args,
    signal,
    log,
  };
  const rows: RowResult[] = [];
  const ids: string[] = [];
  const top = Math.max(...args.concurrency);
  const postTenant = (slugPrefix: string, idempotencyKey = false): Workload => ({
    kind: 'post-tenant',
    path: '/v1/tenants',
    slugPrefix,
    idempotencyKey,
    collectIds: true,
  });
  const postBare = (slugPrefix: string): Workload => ({
    kind: 'post-tenant',
    path: '/bare',
    slugPrefix,
    idempotencyKey: false,
    collectIds: false,
  });
  const getBare: Workload = { kind: 'get', path: '/bare' };
  const getTenant = (): Workload => ({ kind: 'get-each', prefix: '/v1/tenants/', ids: shuffled(ids) });
  const record = (row: RowResult): void => {
    rows.push(row);
    ids.push(...row.load.ids);
    log(progress(row));
  };
  const warmUp = async (to: Target, workload: () => Workload): Promise<void> => {
    if (!args.jitWarmupS) return;
    ids.push(...(await unmeasured(m, to, workload(), top, args.jitWarmupS)).ids);
  };

  log(`warming up: ${args.jitWarmupS} s per route at concurrency ${top}, not measured`);
  await warmUp(bare, () => getBare);
  await warmUp(bare, () => postBare(`b${names.token}-wb`));
  await warmUp(api, () => postTenant(`b${names.token}-w`));
  await warmUp(api, getTenant);

  // Bare and API rows alternate at each level, so that drift on the machine touches both alike.
  for (const [level, c] of args.concurrency.entries()) {
    const slugs = `b${names.token}-${level}`;
    record(await measure(m, bare, 'GET /bare', c, getBare));
    record(await measure(m, bare, 'POST /bare', c, postBare(`${slugs}x`)));
    record(await measure(m, api, 'POST /v1/tenants', c, postTenant(slugs), { baseline: 'POST /bare' }));
    record(await measure(m, api, 'GET /v1/tenants/{id}', c, getTenant(), { baseline: 'GET /bare' }));
  }

  if (!args.skipExtraRows) {
    record(
      await measure(m, api, 'POST /v1/tenants', top, postTenant(`b${names.token}-k`, true), {
        baseline: 'POST /bare',
        variant: 'Idempotency-Key',
      }),
    );
    log('starting a second API with HTTP_ACCESS_LOG=false');
    const quiet = target(await startSiloApi(configFor(false), track));
    await warmUp(quiet, () => postTenant(`b${names.token}-wq`));
    await warmUp(quiet, getTenant);
    const variant = 'access log off';
    record(
      await measure(m, quiet, 'POST /v1/tenants', top, postTenant(`b${names.token}-q`), {
        baseline: 'POST /bare',
        variant,
      }),
    );
    record(
      await measure(m, quiet, 'GET /v1/tenants/{id}', top, getTenant(), { baseline: 'GET /bare', variant }),
    );
  }

  const facts = await gatherFacts(args, controlPlaneUrl, names.database, names.queuePrefix, config.http);
  return formatApiReport({ ...facts, loadBefore, loadAfter: loadavg()[0] }, rows);
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

runBench({
  usage: USAGE,
  parseArgs: parseApiBenchArgs,
  state: (args): ApiBenchResources => ({
    names: benchNames(),
    postgresUrl: args.postgresUrl,
    redisUrl: args.redisUrl,
    apps: [],
  }),
  run,
  cleanUp: async (res, code) =>
    cleanupOutcome(await cleanUpApiBench(res), 'servers, control-plane database, Redis keys', code),
  cleanupGraceMs: 120_000,
  graceExceededNote: ', something may be left behind',
  settleMs: 15_000,
  secondSignalNote: 'without finishing cleanup',
  stackOnFailure: false,
});
