import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import {
  backoffDelay,
  CREATE_HOST_JOB,
  DELETE_HOST_JOB,
  DELETE_ORPHANS_JOB,
  HostSaga,
  HostSweep,
  SWEEP_HOSTS_JOB,
  SWEEP_HOSTS_SCHEDULER,
  ChangeStore,
  DEPROVISION_TENANT_JOB,
  DeprovisioningSaga,
  MODIFY_TENANT_JOB,
  ModifySaga,
  checkTierEngineVersions,
  HostAllocator,
  SchemaRollouts,
  MOVE_TENANT_JOB,
  MoveSaga,
  MovedSourceRemoval,
  RedisRouteSignals,
  REMOVE_MOVED_SOURCE_JOB,
  REMOVE_RESTORE_COPY_JOB,
  RESTORE_TENANT_JOB,
  RestoreCopyRemoval,
  RestoreSaga,
  UNDELETE_TENANT_JOB,
  UndeleteSaga,
  SNAPSHOT_TENANT_JOB,
  SnapshotTenantJob,
  ROTATE_CREDENTIALS_JOB,
  ROTATE_HOST_CREDENTIALS_JOB,
  HostRotationSaga,
  HostRotationStore,
  HostStepStore,
  RotationSaga,
  MIGRATE_TENANT_JOB,
  MIGRATE_POOL_JOB,
  OrphanDeletion,
  RECONCILE_JOB,
  RECONCILER_FLEET,
  RECONCILE_SCHEDULER,
  Reconciler,
  RolloutTenantMigration,
  type RolloutTarget,
  PROVISION_TENANT_JOB,
  PROVISIONING_JOB_NAMES,
  ProvisioningSaga,
  SAGA_DEPS,
  stepDepsInRegion,
  type SagaContext,
  type SagaLog,
  type FleetAccess,
  type FleetSettings,
  type OrphanAccess,
  type SagaOutcome,
  type StepDeps,
} from '@silo/fleet';
import { FleetInventory, RdsEngineVersions } from '@silo/aws';
import { Redis } from 'ioredis';
import {
  assertOneHandlerPerJob,
  OutboxRelay,
  PROVISIONING_QUEUE,
  ProvisioningQueue,
  startQueueWorker,
  type JobHandler,
  type JobOutcome,
  type QueueJob,
  type QueueWorker,
} from '@silo/queue';
import { PinoLogger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { WorkerReadinessService } from './worker-readiness.service';

const ACTOR = 'system:worker';
/** How soon a pass somebody asked for tries again while another pass holds the lock. */
const ON_DEMAND_PASS_RETRY_MS = 2000;

/**
 * The `provisioning` queue's consumer: one handler per job name (checked at start-up), each a
 * thin shell around a saga. Starts taking jobs once PostgreSQL and Redis answer; on shutdown,
 * lets running passes finish (they are short: sagas never sleep).
 */
@Injectable()
export class ProvisioningWorkerService
  implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown
{
  private readonly logger = new Logger(ProvisioningWorkerService.name);
  private worker: QueueWorker | undefined;
  private scheduleTimer: NodeJS.Timeout | undefined;
  private readonly handlers: Record<string, JobHandler>;
  /** Publishes moves' route signals to the data plane (a connection of its own, closed at shutdown). */
  private readonly signalsRedis: Redis;

  constructor(
    @Inject(SAGA_DEPS) private readonly deps: StepDeps,
    @Inject(RECONCILER_FLEET) private readonly fleet: { access: FleetAccess; settings: FleetSettings },
    private readonly inventory: FleetInventory,
    private readonly config: SiloConfig,
    private readonly pino: PinoLogger,
    private readonly readiness: WorkerReadinessService,
    private readonly dataSource: DataSource,
    private readonly relay: OutboxRelay,
    private readonly queue: ProvisioningQueue,
    private readonly changes: ChangeStore,
    private readonly hostSaga: HostSaga,
    private readonly hostSweep: HostSweep,
    private readonly allocator: HostAllocator,
    private readonly rollouts: SchemaRollouts,
    private readonly engineVersions: RdsEngineVersions,
  ) {
    this.signalsRedis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.signalsRedis.on('error', () => undefined);
    this.handlers = {
      [PROVISION_TENANT_JOB]: (job) => this.runSaga(job, (log) => new ProvisioningSaga(this.deps, log)),
      [DEPROVISION_TENANT_JOB]: (job) => this.runSaga(job, (log) => new DeprovisioningSaga(this.deps, log)),
      [MIGRATE_TENANT_JOB]: (job) => this.migrateTenant(job),
      [MIGRATE_POOL_JOB]: (job) => this.migratePool(job),
      [RECONCILE_JOB]: (job) => this.reconcile(job),
      [DELETE_ORPHANS_JOB]: (job) => this.deleteOrphans(job),
      [MODIFY_TENANT_JOB]: (job) =>
        this.runSaga(job, (log) => new ModifySaga(this.deps, this.changes, this.inventory, log)),
      [ROTATE_CREDENTIALS_JOB]: (job) =>
        this.runSaga(job, (log) => new RotationSaga(this.deps, this.changes, log)),
      [MOVE_TENANT_JOB]: (job) =>
        this.runSaga(
          job,
          (log) =>
            new MoveSaga(
              {
                deps: this.deps,
                changes: this.changes,
                signals: new RedisRouteSignals(this.signalsRedis, config.resources.prefix, log),
                allocator: this.allocator,
                dataSource: this.dataSource,
                ...config.worker.moves,
              },
              log,
            ),
        ),
      [REMOVE_MOVED_SOURCE_JOB]: (job) =>
        this.runSaga(job, (log) => ({
          run: (tenantId, ctx) =>
            new MovedSourceRemoval(this.deps, this.dataSource, log).run(tenantId, Number(job.data.run), ctx),
        })),
      [RESTORE_TENANT_JOB]: (job) =>
        this.runSaga(
          job,
          (log) =>
            new RestoreSaga(
              {
                deps: this.deps,
                changes: this.changes,
                dataSource: this.dataSource,
                copyTtlMs: config.worker.restores.copyTtlMs,
                signals: new RedisRouteSignals(this.signalsRedis, config.resources.prefix, log),
                rollouts: this.rollouts,
              },
              log,
            ),
        ),
      [REMOVE_RESTORE_COPY_JOB]: (job) =>
        this.runSaga(job, (log) => ({
          run: (tenantId, ctx) =>
            new RestoreCopyRemoval(this.deps, this.dataSource, log).run(tenantId, Number(job.data.run), ctx),
        })),
      [UNDELETE_TENANT_JOB]: (job) =>
        this.runSaga(
          job,
          (log) =>
            new UndeleteSaga(
              {
                deps: this.deps,
                changes: this.changes,
                dataSource: this.dataSource,
                allocator: this.allocator,
              },
              log,
            ),
        ),
      [SNAPSHOT_TENANT_JOB]: (job) =>
        this.runSaga(job, (log) => ({
          run: (tenantId, ctx) =>
            new SnapshotTenantJob(this.deps, this.dataSource, log).run(
              {
                tenantId,
                instanceIdentifier: String(job.data.instanceIdentifier),
                snapshotIdentifier: String(job.data.snapshotIdentifier),
                ...(job.data.exportKind === 'schema-dump' || job.data.exportKind === 'rows'
                  ? { exportKind: job.data.exportKind, exportAt: String(job.data.exportAt) }
                  : {}),
              },
              ctx,
            ),
        })),
      [CREATE_HOST_JOB]: (job) => this.runHostSaga(job, 'create'),
      [DELETE_HOST_JOB]: (job) => this.runHostSaga(job, 'delete'),
      [SWEEP_HOSTS_JOB]: (job) => this.sweepHosts(job),
      [ROTATE_HOST_CREDENTIALS_JOB]: (job) => this.rotateHostCredentials(job),
    };
  }

  /** At boot, before anything else: a job name without exactly one handler stops the process. */
  onModuleInit(): void {
    assertOneHandlerPerJob(PROVISIONING_JOB_NAMES, this.handlers);
  }

  onApplicationBootstrap(): void {
    void this.readiness
      .whenReady()
      .then(() => this.checkEngineVersions())
      .then(() => {
        if (this.worker) return;
        const { worker } = this.config;
        this.worker = startQueueWorker({
          queue: PROVISIONING_QUEUE,
          prefix: this.config.queue.prefix,
          redisUrl: this.config.redis.url,
          concurrency: worker.concurrency,
          lockDurationMs: worker.lockDurationMs,
          jobNames: PROVISIONING_JOB_NAMES,
          handlers: this.handlers,
          backoff: (attempt) => backoffDelay(attempt, worker.retry.baseDelayMs, worker.retry.maxDelayMs),
        });
        this.worker.on('error', (error) => this.logger.error(`queue worker error: ${error.message}`));
        // Every replica upserts the same scheduler (one reconcile job per interval in all), at
        // start and again each interval: a Redis flush must not stop the passes that repair it.
        this.scheduleReconcile();
        this.scheduleHostSweep();
        this.scheduleTimer = setInterval(() => {
          this.scheduleReconcile();
          this.scheduleHostSweep();
        }, this.config.worker.reconcile.intervalMs);
        this.scheduleTimer.unref();
        this.worker.on('failed', (job, error) =>
          this.logger.error(
            { jobId: job?.id, tenantId: (job?.data as { tenantId?: string })?.tenantId, err: error.message },
            'job pass failed',
          ),
        );
        this.logger.log(
          { queue: PROVISIONING_QUEUE, concurrency: worker.concurrency },
          'taking provisioning jobs',
        );
      })
      .catch((error: unknown) => {
        // Without its queue worker the process is useless: stop, so that it is restarted.
        this.logger.error(
          `could not start the queue worker: ${error instanceof Error ? error.message : String(error)}`,
        );
        process.exit(1);
      });
  }

  /**
   * Every tier's PostgreSQL version is one RDS makes new instances with, or the worker does not
   * start (EngineVersionRefused names each tier): otherwise each onboarding of the tier would fail
   * at CreateDBInstance.
   */
  private async checkEngineVersions(): Promise<void> {
    const { resolved, unchecked } = await checkTierEngineVersions(
      this.deps.settings.tiers,
      this.engineVersions,
    );
    if (unchecked.length)
      this.logger.warn(
        { engineVersions: unchecked },
        'RDS could not say which engine versions it offers (DescribeDBEngineVersions is not implemented here): the tier profiles are taken as they are',
      );
    if (Object.keys(resolved).length) {
      this.deps.settings.pinEngineVersions(resolved);
      this.logger.log({ engineVersions: resolved }, 'tier engine versions offered by RDS, pinned');
    }
  }

  private async runSaga(
    job: QueueJob,
    make: (log: SagaLog) => { run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> },
  ): Promise<JobOutcome> {
    const tenantId = typeof job.data.tenantId === 'string' ? job.data.tenantId : '';
    const log = this.pino.logger.child({ tenantId, jobId: job.id, job: job.name });
    if (!tenantId) {
      log.error('job without a tenantId; dropped');
      return { kind: 'finished' };
    }
    const outcome = await make(log).run(tenantId, { actor: ACTOR, correlationId: job.id });
    if (outcome.kind === 'delay') {
      log.debug({ delayMs: outcome.delayMs, reason: outcome.reason }, 'job delayed');
      return { kind: 'delay', delayMs: outcome.delayMs };
    }
    log.info({ status: outcome.status }, 'saga settled');
    return { kind: 'finished' };
  }

  /** One pass of a pool host's pool-login rotation; the job carries the host's id only. */
  private async rotateHostCredentials(job: QueueJob): Promise<JobOutcome> {
    const hostId = typeof job.data.hostId === 'string' ? job.data.hostId : '';
    const log = this.pino.logger.child({ hostId, jobId: job.id, job: job.name });
    if (!hostId) {
      log.error('host job without a hostId; dropped');
      return { kind: 'finished' };
    }
    // The host's secrets and backend are in its region.
    const store = new HostStepStore(this.dataSource);
    const record = await store.getHost(hostId);
    const region = record?.region ?? this.deps.settings.defaultRegion;
    const { secrets, admin, host, settings } = stepDepsInRegion(this.deps, region);
    const saga = new HostRotationSaga(
      {
        store,
        rotations: new HostRotationStore(this.dataSource),
        secrets,
        admin,
        backend: host,
        settings,
      },
      log,
      { actor: ACTOR, correlationId: job.id },
    );
    const outcome = await saga.run(hostId);
    if (outcome.kind === 'delay') {
      log.debug({ delayMs: outcome.delayMs, reason: outcome.reason }, 'job delayed');
      return { kind: 'delay', delayMs: outcome.delayMs };
    }
    log.info({ status: outcome.status }, 'pool-login rotation settled');
    return { kind: 'finished' };
  }

  /** One pass of a shared host's create or delete saga; the job carries the host's id only. */
  private async runHostSaga(job: QueueJob, saga: 'create' | 'delete'): Promise<JobOutcome> {
    const hostId = typeof job.data.hostId === 'string' ? job.data.hostId : '';
    const log = this.pino.logger.child({ hostId, jobId: job.id, job: job.name });
    if (!hostId) {
      log.error('host job without a hostId; dropped');
      return { kind: 'finished' };
    }
    const ctx = { actor: ACTOR, correlationId: job.id };
    const outcome =
      saga === 'create'
        ? await this.hostSaga.create(hostId, ctx, log)
        : await this.hostSaga.delete(hostId, ctx, log);
    if (outcome.kind === 'delay') {
      log.debug({ delayMs: outcome.delayMs, reason: outcome.reason }, 'job delayed');
      return { kind: 'delay', delayMs: outcome.delayMs };
    }
    log.info({ status: outcome.status }, 'host saga settled');
    return { kind: 'finished' };
  }

  /** Records empty hosts and begins deleting those empty past the grace period; their delete jobs are relayed at once. */
  private async sweepHosts(job: QueueJob): Promise<JobOutcome> {
    const log = this.pino.logger.child({ jobId: job.id, job: job.name });
    try {
      const result = await this.hostSweep.sweep(log);
      if (result.deleting.length) void this.relay.relayOnce().catch(() => undefined);
      log.info({ ...result, graceMs: this.hostSweep.graceMs }, 'host sweep done');
    } catch (error) {
      // The next scheduled sweep is the retry.
      log.error({ err: error instanceof Error ? error.message : String(error) }, 'host sweep failed');
    }
    return { kind: 'finished' };
  }

  /** A reconcile pass; a scheduled one is skipped while another runs, an asked-for one waits its turn. */
  private async reconcile(job: QueueJob): Promise<JobOutcome> {
    const triggeredBy = typeof job.data.triggeredBy === 'string' ? job.data.triggeredBy : 'schedule';
    const log = this.pino.logger.child({ jobId: job.id, job: job.name });
    try {
      const result = await new Reconciler(
        this.dataSource,
        this.queue,
        this.config.worker.reconcile,
        this.fleet,
        log,
      ).pass(triggeredBy, job.id);
      if (result === 'busy') {
        // A scheduled pass is simply skipped; one somebody asked for runs once the current one ends.
        if (triggeredBy !== 'schedule') {
          log.info('another reconcile pass is running; this one runs after it');
          return { kind: 'delay', delayMs: ON_DEMAND_PASS_RETRY_MS };
        }
        log.info('another reconcile pass is running; this scheduled one is skipped');
      } else if (result.redriven) void this.relay.relayOnce().catch(() => undefined);
    } catch (error) {
      // The next scheduled pass is the retry: a failed pass is not worth BullMQ's retries.
      log.error({ err: error instanceof Error ? error.message : String(error) }, 'reconcile pass failed');
    }
    return { kind: 'finished' };
  }

  /** The orphans an operator asked to delete, each checked against its tags again first. */
  private async deleteOrphans(job: QueueJob): Promise<JobOutcome> {
    const log = this.pino.logger.child({ jobId: job.id, job: job.name, requestedBy: job.data.requestedBy });
    const { settings } = this.deps;
    // Each orphan is removed in the region its ARN names, through that region's clients.
    const access = (region: string | null): OrphanAccess => {
      const home = region && settings.regions.includes(region) ? region : settings.defaultRegion;
      const { rds, secrets, alarms } = stepDepsInRegion(this.deps, home);
      const inventory = this.inventory.inRegion(home);
      return {
        tagsOf: (type, name) => inventory.tagsOf(type, name),
        deleteInstance: (identifier, owner) => rds.delete(identifier, { ownerTenantId: owner }),
        deleteSecret: (name, owner) =>
          secrets.delete(name, { recoveryWindowDays: settings.secretRecoveryWindowDays }, owner),
        deleteAlarm: (name) => alarms.delete([name]),
        deleteSnapshot: (identifier) => inventory.deleteSnapshot(identifier),
      };
    };
    const result = await new OrphanDeletion(this.dataSource).run(access, settings.environment, log);
    log.info(result, 'orphan deletion done');
    return { kind: 'finished' };
  }

  /** One tenant of a schema rollout; the tenants it lets start are relayed at once, not at the next poll. */
  private migrateTenant(job: QueueJob): Promise<JobOutcome> {
    const { tenantId } = job.data;
    return this.migrateTarget(job, typeof tenantId === 'string' ? { tenantId } : null, { tenantId });
  }

  private migratePool(job: QueueJob): Promise<JobOutcome> {
    const { hostId } = job.data;
    return this.migrateTarget(job, typeof hostId === 'string' ? { poolHostId: hostId } : null, { hostId });
  }

  /** One migration target of a rollout: a tenant's own database or schema, or a pool host's pool. */
  private async migrateTarget(
    job: QueueJob,
    target: RolloutTarget | null,
    ids: Record<string, unknown>,
  ): Promise<JobOutcome> {
    const { rolloutId, attempt } = job.data;
    const log = this.pino.logger.child({ ...ids, rolloutId, jobId: job.id, job: job.name });
    if (typeof rolloutId !== 'string' || !target || typeof attempt !== 'string') {
      log.error(`${job.name} job without rolloutId, ${Object.keys(ids).join(', ')} and attempt; dropped`);
      return { kind: 'finished' };
    }
    const pass = await new RolloutTenantMigration(this.dataSource, this.deps, log).run(
      rolloutId,
      target,
      Number(attempt),
      { actor: ACTOR, correlationId: job.id },
    );
    if (pass.dispatched) {
      void this.relay
        .relayOnce()
        .catch((error: unknown) =>
          log.warn(
            { err: error instanceof Error ? error.message : String(error) },
            'relaying the next tenants failed; the outbox poll will',
          ),
        );
    }
    if (pass.outcome.kind === 'delay') return { kind: 'delay', delayMs: pass.outcome.delayMs };
    log.info({ status: pass.outcome.status }, 'tenant migration settled');
    return { kind: 'finished' };
  }

  private scheduleReconcile(): void {
    void this.queue
      .schedule(RECONCILE_SCHEDULER, this.config.worker.reconcile.intervalMs, RECONCILE_JOB)
      .catch((error: unknown) =>
        this.logger.warn(
          `could not schedule reconcile passes: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
  }

  private scheduleHostSweep(): void {
    void this.queue
      .schedule(SWEEP_HOSTS_SCHEDULER, this.config.worker.hosts.sweepIntervalMs, SWEEP_HOSTS_JOB)
      .catch((error: unknown) =>
        this.logger.warn(
          `could not schedule host sweeps: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.scheduleTimer);
    this.signalsRedis.disconnect();
    if (!this.worker) return;
    // A worker closed while still starting leaves its stalled-job timer behind; let it start first.
    await this.worker.waitUntilReady().catch(() => undefined);
    await this.worker.close();
  }
}
