import { performance } from 'node:perf_hooks';
import type { INestApplicationContext } from '@nestjs/common';
import { AwsClients } from '@silo/aws';
import { SchemaRollouts, type RolloutDetail } from '@silo/fleet';
import { Client } from 'pg';
import { sleep } from '../common/cleanup';
import { AwsCallCounter, type CallCounts } from '../provisioning/aws-call-counter';
import type { ContenderRun } from './rollout-bench-report';
import { TARGET_VERSION } from './rollout-environment';
import { ClientCalls, leaveUncounted, PassProbes, type PassTimings } from './rollout-probes';
import { ActivitySampler, type ActivityScope } from './server-activity';

const POLL_MS = 50;
const DRAIN_TIMEOUT_MS = 10_000;
const CTX = { actor: 'bench', correlationId: 'bench-rollout' };

/** The rollout stopped short of SUCCEEDED; the message says how and which tenants failed. */
export class RolloutDidNotSucceed extends Error {
  override readonly name = 'RolloutDidNotSucceed';
}

export interface SiloRolloutRun {
  /** Without `sqlMs`: the migrator's spans are read from the tenants' ledgers afterwards. */
  run: Omit<ContenderRun, 'sqlMs'>;
  rolloutId: string;
  detail: RolloutDetail;
  passes: PassTimings;
  aws: CallCounts;
}

/**
 * A real schema rollout to TARGET_VERSION of every tenant, started through SchemaRollouts in the
 * worker's Nest context (what POST /v1/schema-rollouts calls) and run by the worker in this
 * process: outbox, relay, BullMQ, one migrate-tenant pass per tenant. Waits for SUCCEEDED with a
 * cheap status query every 50 ms on a connection of its own, then for the last pass to return.
 */
export async function runSiloRollout(options: {
  worker: INestApplicationContext;
  controlPlaneUrl: string;
  tenants: number;
  concurrency: number;
  canary: number;
  waves: number[];
  activity: ActivityScope;
  signal: AbortSignal;
}): Promise<SiloRolloutRun> {
  const { worker, signal } = options;
  const rollouts = worker.get(SchemaRollouts);
  const aws = new AwsCallCounter();
  aws.attach(worker.get(AwsClients));
  const poller = leaveUncounted(
    new Client({ connectionString: options.controlPlaneUrl, application_name: 'silo-bench-poller' }),
  );
  poller.on('error', () => undefined);
  await poller.connect();
  const calls = new ClientCalls();
  const probes = new PassProbes();
  let sampler: ActivitySampler | undefined;
  try {
    calls.install();
    probes.install();
    sampler = await ActivitySampler.start(options.activity);
    const cpuStart = process.cpuUsage();
    const startEpochMs = Date.now();
    const start = performance.now();
    const started = await rollouts.start(
      {
        targetVersion: TARGET_VERSION,
        canary: options.canary,
        waves: options.waves,
        maxConcurrency: options.concurrency,
        failureThreshold: 1,
        pauseBetweenWaves: false,
      },
      CTX,
    );
    const id = started.rollout.id;
    let finishedAt: Date | null = null;
    for (;;) {
      signal.throwIfAborted();
      const { rows } = await poller.query<{ status: string; finished_at: Date | null }>(
        'SELECT status, finished_at FROM schema_rollouts WHERE id = $1',
        [id],
      );
      const { status } = rows[0];
      if (status === 'SUCCEEDED') {
        finishedAt = rows[0].finished_at;
        break;
      }
      if (status !== 'RUNNING') throw new RolloutDidNotSucceed(await whyNot(rollouts, id, status));
      await sleep(POLL_MS);
    }
    const seenMs = performance.now() - start;
    // SUCCEEDED is committed inside the last pass; let that pass return before stopping the clocks.
    const drainDeadline = performance.now() + DRAIN_TIMEOUT_MS;
    while (probes.inFlight > 0 && performance.now() < drainDeadline) await sleep(5);
    const cpu = process.cpuUsage(cpuStart);
    const activity = await sampler.stop();
    const passes = probes.snapshot();

    const detail = await rollouts.get(id);
    if (detail.counts.succeeded !== options.tenants) {
      throw new RolloutDidNotSucceed(
        `rollout ${id} SUCCEEDED with ${detail.counts.succeeded} of ${options.tenants} tenants: ${JSON.stringify(detail.counts)}`,
      );
    }
    const lastRecordedMs = finishedAt ? finishedAt.getTime() - startEpochMs : seenMs;
    return {
      run: {
        tenants: options.tenants,
        concurrency: options.concurrency,
        // To the last tenant's record (the worker's clock, this process): no polling interval in it.
        wallMs: lastRecordedMs > 0 ? Math.min(seenMs, lastRecordedMs) : seenMs,
        cpuMs: (cpu.user + cpu.system) / 1000,
        tenantMs: passes.pass,
        calls: calls.snapshot(),
        activity,
      },
      rolloutId: id,
      detail,
      passes,
      aws: aws.snapshot(),
    };
  } finally {
    await sampler?.stop();
    probes.uninstall();
    calls.uninstall();
    await poller.end().catch(() => undefined);
  }
}

async function whyNot(rollouts: SchemaRollouts, id: string, status: string): Promise<string> {
  const { rollout, counts, tenants } = await rollouts.get(id);
  const failed = tenants.filter((t) => t.state === 'failed');
  return (
    `rollout ${id} is ${status}${rollout.pausedReason ? ` (${rollout.pausedReason})` : ''}: ${JSON.stringify(counts)}` +
    failed
      .slice(0, 5)
      .map((t) => `\n  ${t.slug}: ${t.errorCode ?? ''} ${t.errorMessage ?? ''}`)
      .join('')
  );
}
