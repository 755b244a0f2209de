import type { HostMetrics } from '@silo/fleet';
import { Injectable, Logger } from '@nestjs/common';
import { withTimeout } from '@silo/core';
import { ProvisioningQueueStats, type JobOutcomeCount, type QueueJobState } from '@silo/queue';
import {
  ControlPlaneStats,
  type ReconcileStats,
  type RolloutTenantCount,
  type SchemaVersionCount,
  type StepDurations,
  type TenantCount,
} from './control-plane-stats.service';

/** Upper bounds, in seconds, of `silo_provisioning_step_duration_seconds`. */
export const STEP_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600] as const;
/** Upper bounds, in seconds, of `silo_reconcile_pass_duration_seconds`. */
export const RECONCILE_PASS_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

/** How long one read may take before its collector counts as down for this scrape. */
const READ_TIMEOUT_MS = 2000;
/** How long a snapshot answers scrapes, so that a scrape storm costs one read per source. */
const SNAPSHOT_TTL_MS = 2000;

/** What the scrape-time collectors read; `undefined` where the collector failed. */
export interface MetricsSnapshot {
  queueJobs: { queue: string; counts: Record<QueueJobState, number> } | undefined;
  jobOutcomes: JobOutcomeCount[] | undefined;
  stepDurations: StepDurations[] | undefined;
  tenants: TenantCount[] | undefined;
  schemaVersions: SchemaVersionCount[] | undefined;
  rolloutTenants: RolloutTenantCount[] | undefined;
  reconcile: ReconcileStats | undefined;
  hosts: HostMetrics | undefined;
}

/** The `collector` label of `silo_metrics_collector_up`, per snapshot field. */
export const COLLECTORS: Readonly<Record<keyof MetricsSnapshot, string>> = {
  queueJobs: 'queue_jobs',
  jobOutcomes: 'job_outcomes',
  stepDurations: 'step_durations',
  tenants: 'tenants',
  schemaVersions: 'schema_versions',
  rolloutTenants: 'rollout_tenants',
  reconcile: 'reconcile',
  hosts: 'hosts',
};

/**
 * Reads everything the cluster-wide metrics need (Redis, PostgreSQL) at scrape time, at most
 * once per {@link SNAPSHOT_TTL_MS}; concurrent scrapes share one read. Every value comes from
 * the shared stores, never from this process, so every API replica reports the same numbers.
 * A source that fails or is slow leaves its collector out of that snapshot; it never fails one.
 */
@Injectable()
export class MetricsSnapshots {
  private readonly logger = new Logger(MetricsSnapshots.name);
  private cached: { snapshot: Promise<MetricsSnapshot>; expiresAt: number } | undefined;
  private readonly down = new Set<string>();

  constructor(
    private readonly queue: ProvisioningQueueStats,
    private readonly stats: ControlPlaneStats,
  ) {}

  current(): Promise<MetricsSnapshot> {
    if (this.cached && Date.now() < this.cached.expiresAt) return this.cached.snapshot;
    const entry = { snapshot: this.read(), expiresAt: Number.POSITIVE_INFINITY };
    this.cached = entry;
    void entry.snapshot.then(() => {
      entry.expiresAt = Date.now() + SNAPSHOT_TTL_MS;
    });
    return entry.snapshot;
  }

  private async read(): Promise<MetricsSnapshot> {
    const [queueJobs, jobOutcomes, stepDurations, tenants, schemaVersions, rolloutTenants, reconcile, hosts] =
      await Promise.all([
        this.attempt(COLLECTORS.queueJobs, async () => ({
          queue: this.queue.queueName,
          counts: await this.queue.jobCounts(READ_TIMEOUT_MS),
        })),
        this.attempt(COLLECTORS.jobOutcomes, () => this.queue.jobOutcomes(READ_TIMEOUT_MS)),
        this.attempt(COLLECTORS.stepDurations, () =>
          withTimeout(this.stats.stepDurations(STEP_DURATION_BUCKETS), READ_TIMEOUT_MS),
        ),
        this.attempt(COLLECTORS.tenants, () => withTimeout(this.stats.tenantCounts(), READ_TIMEOUT_MS)),
        this.attempt(COLLECTORS.schemaVersions, () =>
          withTimeout(this.stats.schemaVersionCounts(), READ_TIMEOUT_MS),
        ),
        this.attempt(COLLECTORS.rolloutTenants, () =>
          withTimeout(this.stats.rolloutTenantCounts(), READ_TIMEOUT_MS),
        ),
        this.attempt(COLLECTORS.reconcile, () =>
          withTimeout(this.stats.reconcileStats(RECONCILE_PASS_BUCKETS), READ_TIMEOUT_MS),
        ),
        this.attempt(COLLECTORS.hosts, () => withTimeout(this.stats.hostMetrics(), READ_TIMEOUT_MS)),
      ]);
    return {
      queueJobs,
      jobOutcomes,
      stepDurations,
      tenants,
      schemaVersions,
      rolloutTenants,
      reconcile,
      hosts,
    };
  }

  /** Warns when a collector goes down and says when it is back; an outage is one warning, not one per scrape. */
  private async attempt<T>(collector: string, read: () => Promise<T>): Promise<T | undefined> {
    try {
      const value = await read();
      if (this.down.delete(collector))
        this.logger.log({ collector }, `metrics collector ${collector} is back`);
      return value;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (this.down.has(collector)) {
        this.logger.debug({ collector, err: message }, `metrics collector ${collector} still failing`);
      } else {
        this.down.add(collector);
        this.logger.warn(
          { collector, err: message },
          `metrics collector ${collector} failed; its metrics are left out until it answers`,
        );
      }
      return undefined;
    }
  }
}
