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

/** Aggregates over the control-plane database for monitoring; each is one query. */
@Injectable()
export class ControlPlaneStats {
  constructor(private readonly dataSource: DataSource) {}

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
}
