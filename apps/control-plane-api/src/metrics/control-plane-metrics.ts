import { HOST_STATUSES, ORPHAN_TYPES, ROLLOUT_TENANT_STATES } from '@silo/control-plane-db';
import { TENANT_STATUSES, TIER_NAMES } from '@silo/core';
import { FINDING_KINDS, FINDING_SEVERITIES, PROVISIONING_JOB_NAMES } from '@silo/fleet';
import { JOB_OUTCOMES } from '@silo/queue';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import {
  COLLECTORS,
  RECONCILE_PASS_BUCKETS,
  STEP_DURATION_BUCKETS,
  type MetricsSnapshot,
} from './metrics-snapshots.service';
import { PrecomputedHistogram } from './precomputed-histogram';
import { SHARED_PLACEMENTS } from '../hosts/host.requests';

/**
 * The API's registry: process metrics of this replica, and the control plane's cluster-wide
 * families, filled at scrape time from one snapshot (every collector awaits the same read).
 * Cluster-wide families are identical on every replica: aggregate them with max, not sum.
 */
export function controlPlaneRegistry(snapshot: () => Promise<MetricsSnapshot>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'silo_queue_jobs',
    help: 'Jobs in the queue by state, cluster-wide (completed and failed are trimmed by age and count).',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      const { queueJobs } = await snapshot();
      this.reset();
      if (!queueJobs) return;
      for (const [state, count] of Object.entries(queueJobs.counts)) {
        this.set({ queue: queueJobs.queue, state }, count);
      }
    },
  });

  new Counter({
    name: 'silo_jobs_total',
    help: 'Job passes by job name and outcome (completed, delayed to wait or retry, failed), counted by the workers in Redis.',
    labelNames: ['job', 'outcome'],
    registers: [registry],
    async collect() {
      const { jobOutcomes } = await snapshot();
      this.reset();
      if (!jobOutcomes) return;
      for (const job of PROVISIONING_JOB_NAMES) {
        for (const outcome of JOB_OUTCOMES) this.inc({ job, outcome }, 0);
      }
      for (const { job, outcome, count } of jobOutcomes) this.inc({ job, outcome }, count);
    },
  });

  registry.registerMetric(
    new PrecomputedHistogram(
      'silo_provisioning_step_duration_seconds',
      'Time from the first start of a saga step to its completion, waits and retries included, for steps that are done.',
      STEP_DURATION_BUCKETS,
      async () =>
        (await snapshot()).stepDurations?.map(({ saga, step, ...series }) => ({
          labels: { saga, step },
          ...series,
        })),
    ).asMetric(),
  );

  new Counter({
    name: 'silo_reconcile_passes_total',
    help: 'Finished reconcile passes: ok, or partial when something could not be checked (the pass records what).',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      const { reconcile } = await snapshot();
      this.reset();
      for (const { outcome, count } of reconcile?.passes ?? []) this.inc({ outcome }, count);
    },
  });

  registry.registerMetric(
    new PrecomputedHistogram(
      'silo_reconcile_pass_duration_seconds',
      'Wall time of finished reconcile passes.',
      RECONCILE_PASS_BUCKETS,
      async () => {
        const { reconcile } = await snapshot();
        return reconcile && [{ labels: {}, ...reconcile.durations }];
      },
    ).asMetric(),
  );

  new Gauge({
    name: 'silo_reconcile_last_pass_timestamp_seconds',
    help: 'When the last reconcile pass finished (Unix time); absent before the first. Alert when it stops moving.',
    registers: [registry],
    async collect() {
      const { reconcile } = await snapshot();
      this.reset();
      if (reconcile?.lastFinishedAt) this.set(reconcile.lastFinishedAt.getTime() / 1000);
    },
  });

  new Gauge({
    name: 'silo_reconcile_findings',
    help: 'Open reconciler findings on ACTIVE and SUSPENDED tenants by kind (repairable, reported, missing) and severity.',
    labelNames: ['kind', 'severity'],
    registers: [registry],
    async collect() {
      const { reconcile } = await snapshot();
      this.reset();
      if (!reconcile) return;
      for (const kind of FINDING_KINDS) {
        for (const severity of FINDING_SEVERITIES) this.set({ kind, severity }, 0);
      }
      for (const { kind, severity, count } of reconcile.findings) this.set({ kind, severity }, count);
    },
  });

  new Gauge({
    name: 'silo_reconcile_host_findings',
    help: 'Open reconciler findings on available shared hosts by kind (repairable, reported, missing) and severity.',
    labelNames: ['kind', 'severity'],
    registers: [registry],
    async collect() {
      const { reconcile } = await snapshot();
      this.reset();
      if (!reconcile) return;
      for (const kind of FINDING_KINDS) {
        for (const severity of FINDING_SEVERITIES) this.set({ kind, severity }, 0);
      }
      for (const { kind, severity, count } of reconcile.hostFindings) this.set({ kind, severity }, count);
    },
  });

  new Gauge({
    name: 'silo_reconcile_orphans',
    help: 'AWS resources tagged for this environment that no live tenant owns, by type, as the last pass found them.',
    labelNames: ['type'],
    registers: [registry],
    async collect() {
      const { reconcile } = await snapshot();
      this.reset();
      if (!reconcile) return;
      for (const type of ORPHAN_TYPES) this.set({ type }, 0);
      for (const { type, count } of reconcile.orphans) this.set({ type }, count);
    },
  });

  new Gauge({
    name: 'silo_hosts',
    help: 'Shared hosts by placement and status (deleted ones included).',
    labelNames: ['placement', 'status'],
    registers: [registry],
    async collect() {
      const { hosts } = await snapshot();
      this.reset();
      if (!hosts) return;
      for (const placement of SHARED_PLACEMENTS) {
        for (const status of HOST_STATUSES) this.set({ placement, status }, 0);
      }
      for (const { placement, status, hosts: count } of hosts.byStatus)
        this.set({ placement, status }, count);
    },
  });

  new Gauge({
    name: 'silo_host_tenants',
    help: 'Tenants placed on each shared host that is not deleted (DELETED tenants do not count).',
    labelNames: ['host', 'placement', 'tier'],
    registers: [registry],
    async collect() {
      const { hosts } = await snapshot();
      this.reset();
      for (const h of hosts?.fill ?? [])
        this.set({ host: h.name, placement: h.placement, tier: h.tier }, h.tenantsPlaced);
    },
  });

  new Gauge({
    name: 'silo_host_capacity_tenants',
    help: 'How many tenants each shared host that is not deleted takes (its tier profile’s capacity when it was made).',
    labelNames: ['host', 'placement', 'tier'],
    registers: [registry],
    async collect() {
      const { hosts } = await snapshot();
      this.reset();
      for (const h of hosts?.fill ?? [])
        this.set({ host: h.name, placement: h.placement, tier: h.tier }, h.capacityTenants);
    },
  });

  new Gauge({
    name: 'silo_tenants',
    help: 'Tenants by status and tier.',
    labelNames: ['status', 'tier'],
    registers: [registry],
    async collect() {
      const { tenants } = await snapshot();
      this.reset();
      if (!tenants) return;
      for (const status of TENANT_STATUSES) {
        for (const tier of TIER_NAMES) this.set({ status, tier }, 0);
      }
      for (const { status, tier, count } of tenants) this.set({ status, tier }, count);
    },
  });

  new Gauge({
    name: 'silo_tenants_by_schema_version',
    help: 'ACTIVE and SUSPENDED tenants by schema version ("none": not applied yet).',
    labelNames: ['version'],
    registers: [registry],
    async collect() {
      const { schemaVersions } = await snapshot();
      this.reset();
      for (const { version, count } of schemaVersions ?? []) this.set({ version: version ?? 'none' }, count);
    },
  });

  new Gauge({
    name: 'silo_schema_rollout_tenants',
    help: 'Tenants of the newest schema rollout by state (pending, running, succeeded, failed, skipped), with its status.',
    labelNames: ['rollout', 'status', 'state'],
    registers: [registry],
    async collect() {
      const { rolloutTenants } = await snapshot();
      this.reset();
      if (!rolloutTenants?.length) return;
      const { rolloutId, status } = rolloutTenants[0];
      for (const state of ROLLOUT_TENANT_STATES) this.set({ rollout: rolloutId, status, state }, 0);
      for (const { state, count } of rolloutTenants) this.set({ rollout: rolloutId, status, state }, count);
    },
  });

  new Gauge({
    name: 'silo_metrics_collector_up',
    help: '1 when the collector read its source for this scrape; 0 when it failed and its metrics were left out.',
    labelNames: ['collector'],
    registers: [registry],
    async collect() {
      const current = await snapshot();
      for (const [field, collector] of Object.entries(COLLECTORS) as [keyof MetricsSnapshot, string][]) {
        this.set({ collector }, current[field] === undefined ? 0 : 1);
      }
    },
  });

  return registry;
}
