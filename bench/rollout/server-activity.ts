import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { sleep } from '../common/cleanup';
import { cpuDifference, cpuSnapshot, type CpuSnapshot } from './proc-cpu';
import { POSTGRES_ADMIN_URL } from './rollout-environment';
import { leaveUncounted } from './rollout-probes';

/** What the machine and PostgreSQL did while one contender ran. */
export interface ServerActivity {
  /** CPU time over the contender, ms, from /proc; null where there is none. */
  cpu: CpuSnapshot | null;
  /**
   * Backend time spent waiting for a heavyweight lock (`wait_event_type = 'Lock'`), estimated from
   * pg_stat_activity samples: per `control plane: <wait_event>` or `tenant: <wait_event>`, ms.
   */
  lockWaitMs: Map<string, number>;
  samples: number;
  intervalMs: number;
}

export interface ActivityScope {
  controlPlaneDatabase: string;
  /** The run's resource prefix: tenant databases are named `<prefix>-<slug>`. */
  tenantDatabasePrefix: string;
  intervalMs: number;
  /** The emulator's process, for its CPU time. */
  motoPid?: number;
}

/**
 * Samples pg_stat_activity every `intervalMs` on a superuser connection of its own for backends
 * of the control-plane database and of the tenant databases that wait for a lock: the rollout
 * row that every recorded tenant takes, CREATE INDEX CONCURRENTLY waiting for older transactions
 * (`virtualxid`). Each waiting backend counts for the time since the previous sample. Also takes
 * the machine's and the services' CPU time at the start and at the stop.
 */
export class ActivitySampler {
  private readonly lockWaitMs = new Map<string, number>();
  private samples = 0;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private stopping: Promise<ServerActivity> | undefined;

  private constructor(
    private readonly client: Client,
    private readonly scope: ActivityScope,
    private readonly cpuStart: CpuSnapshot | null,
  ) {}

  static async start(scope: ActivityScope): Promise<ActivitySampler> {
    const client = leaveUncounted(
      new Client({
        connectionString: POSTGRES_ADMIN_URL,
        connectionTimeoutMillis: 10_000,
        application_name: 'silo-bench-sampler',
      }),
    );
    client.on('error', () => undefined);
    await client.connect();
    const sampler = new ActivitySampler(client, scope, cpuSnapshot(scope.motoPid));
    sampler.loop = sampler.run();
    return sampler;
  }

  /** Stops sampling (once; later calls return the same result). */
  stop(): Promise<ServerActivity> {
    this.stopping ??= this.finish();
    return this.stopping;
  }

  private async finish(): Promise<ServerActivity> {
    const cpuEnd = cpuSnapshot(this.scope.motoPid);
    this.stopped = true;
    await this.loop;
    await this.client.end().catch(() => undefined);
    return {
      cpu: this.cpuStart && cpuEnd ? cpuDifference(this.cpuStart, cpuEnd) : null,
      lockWaitMs: new Map(this.lockWaitMs),
      samples: this.samples,
      intervalMs: this.scope.intervalMs,
    };
  }

  private async run(): Promise<void> {
    let last = performance.now();
    while (!this.stopped) {
      const now = performance.now();
      const elapsed = now - last;
      last = now;
      try {
        const { rows } = await this.client.query<{ place: string; event: string; n: number }>(
          `SELECT CASE WHEN datname = $1 THEN 'control plane' ELSE 'tenant' END AS place,
                  wait_event AS event, count(*)::int AS n
             FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND (datname = $1 OR starts_with(datname, $2))
            GROUP BY 1, 2`,
          [this.scope.controlPlaneDatabase, `${this.scope.tenantDatabasePrefix}-`],
        );
        this.samples++;
        for (const r of rows) {
          const key = `${r.place}: ${r.event}`;
          this.lockWaitMs.set(key, (this.lockWaitMs.get(key) ?? 0) + r.n * elapsed);
        }
      } catch {
        // A sample lost (the server busy, the connection gone) only makes the estimate coarser.
      }
      await sleep(Math.max(0, this.scope.intervalMs - (performance.now() - now)));
    }
  }
}
