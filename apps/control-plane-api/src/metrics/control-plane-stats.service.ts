import { readHostMetrics, type HostMetrics } from '@silo/fleet';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface TenantCount {
  status: string;
  tier: string;
  count: number;
}

export interface SchemaVersionCount {
  /** null: no schema applied yet. */
  version: string | null;
  count: number;
}

/** The tenants of the newest rollout by state, and that rollout's status. */
export interface RolloutTenantCount {
  rolloutId: string;
  status: string;
  state: string;
  count: number;
}

/** Finished steps of one saga step, bucketed for a Prometheus histogram. */
export interface StepDurations {
  saga: string;
  step: string;
  count: number;
  /** Seconds, summed over every counted step. */
  sum: number;
  /** Cumulative: `buckets[i]` steps took at most `bounds[i]` seconds. */
  buckets: number[];
}

/** What the reconciler did and found, for `silo_reconcile_*`. */
export interface ReconcileStats {
  /** Finished passes: `ok`, or `partial` when the pass could not check everything. */
  passes: { outcome: 'ok' | 'partial'; count: number }[];
  /** Finished passes' durations, bucketed at the bounds asked for. */
  durations: { count: number; sum: number; buckets: number[] };
  lastFinishedAt: Date | null;
  findings: { kind: string; severity: string; count: number }[];
  /** Open findings on shared hosts, by kind and severity. */
  hostFindings: { kind: string; severity: string; count: number }[];
  orphans: { type: string; count: number }[];
}

/** Aggregates over the control-plane database for monitoring; each is one query. */
@Injectable()
export class ControlPlaneStats {
  constructor(private readonly dataSource: DataSource) {}

  /** Shared hosts by placement and status, and each live host's tenants against its capacity. */
  hostMetrics(): Promise<HostMetrics> {
    return readHostMetrics(this.dataSource);
  }

  async tenantCounts(): Promise<TenantCount[]> {
    return this.dataSource.query<TenantCount[]>(
      `SELECT status, tier, count(*)::int AS count FROM tenants GROUP BY status, tier`,
    );
  }

  /** ACTIVE and SUSPENDED tenants (those with a database) by schema version. */
  async schemaVersionCounts(): Promise<SchemaVersionCount[]> {
    return this.dataSource.query<SchemaVersionCount[]>(
      `SELECT schema_version AS version, count(*)::int AS count FROM tenants
        WHERE status IN ('ACTIVE', 'SUSPENDED') GROUP BY schema_version`,
    );
  }

  /** The newest rollout's tenants by state (none before the first rollout). */
  async rolloutTenantCounts(): Promise<RolloutTenantCount[]> {
    return this.dataSource.query<RolloutTenantCount[]>(
      `SELECT r.id AS "rolloutId", r.status, rt.state, count(*)::int AS count
         FROM (SELECT id, status FROM schema_rollouts ORDER BY created_at DESC, id DESC LIMIT 1) r
         JOIN schema_rollout_tenants rt ON rt.rollout_id = r.id
        GROUP BY r.id, r.status, rt.state`,
    );
  }

  /**
   * Wall-clock time of each step that is done, from its first start to its completion (waits and
   * retries included), per saga and step, bucketed at `bounds` (seconds, ascending).
   */
  async stepDurations(bounds: readonly number[]): Promise<StepDurations[]> {
    const perBound = bounds.map((_, i) => `count(*) FILTER (WHERE seconds <= $${i + 1})::int AS le_${i}`);
    const rows = await this.dataSource.query<Array<Record<string, string | number>>>(
      `SELECT saga, step, count(*)::int AS count, coalesce(sum(seconds), 0)::float8 AS sum, ${perBound.join(', ')}
       FROM (
         SELECT saga, step, greatest(extract(epoch FROM finished_at - started_at), 0)::float8 AS seconds
         FROM provisioning_steps
         WHERE status = 'done' AND started_at IS NOT NULL AND finished_at IS NOT NULL
       ) done_steps
       GROUP BY saga, step
       ORDER BY saga, step`,
      [...bounds],
    );
    return rows.map((row) => ({
      saga: String(row.saga),
      step: String(row.step),
      count: Number(row.count),
      sum: Number(row.sum),
      buckets: bounds.map((_, i) => Number(row[`le_${i}`])),
    }));
  }

  /** The reconciler's passes (counts, durations, the last one) and what is open now. */
  async reconcileStats(bounds: readonly number[]): Promise<ReconcileStats> {
    const perBound = bounds.map((_, i) => `count(*) FILTER (WHERE seconds <= $${i + 1})::int AS le_${i}`);
    const [passes, findings, hostFindings, orphans] = await Promise.all([
      this.dataSource.query<Array<Record<string, string | number | Date | null>>>(
        `SELECT count(*) FILTER (WHERE error IS NULL)::int AS ok,
                count(*) FILTER (WHERE error IS NOT NULL)::int AS partial,
                coalesce(sum(seconds), 0)::float8 AS sum,
                max(finished_at) AS last,
                ${perBound.join(', ')}
           FROM (SELECT error, finished_at,
                        greatest(extract(epoch FROM finished_at - started_at), 0)::float8 AS seconds
                   FROM reconcile_passes WHERE finished_at IS NOT NULL) p`,
        [...bounds],
      ),
      this.dataSource.query<{ kind: string; severity: string; count: number }[]>(
        `SELECT kind, severity, count(*)::int AS count FROM reconcile_findings GROUP BY kind, severity`,
      ),
      this.dataSource.query<{ kind: string; severity: string; count: number }[]>(
        `SELECT kind, severity, count(*)::int AS count FROM reconcile_host_findings GROUP BY kind, severity`,
      ),
      this.dataSource.query<{ type: string; count: number }[]>(
        `SELECT type, count(*)::int AS count FROM reconcile_orphans GROUP BY type`,
      ),
    ]);
    const row = passes[0];
    const ok = Number(row.ok);
    const partial = Number(row.partial);
    return {
      passes: [
        { outcome: 'ok', count: ok },
        { outcome: 'partial', count: partial },
      ],
      durations: {
        count: ok + partial,
        sum: Number(row.sum),
        buckets: bounds.map((_, i) => Number(row[`le_${i}`])),
      },
      lastFinishedAt: row.last ? new Date(row.last) : null,
      findings,
      hostFindings,
      orphans,
    };
  }
}
