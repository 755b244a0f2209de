import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { TenantAlarms, type AlarmState, type AlarmView } from '@silo/aws';
import { TenantEntity } from '@silo/control-plane-db';
import {
  ProvisioningError,
  ProvisioningErrorCode,
  withTimeout,
  type SharedPlacement,
  type TierName,
} from '@silo/core';
import { ALARM_METRICS, ProvisioningSettings } from '@silo/fleet';
import { DataSource, In, Not } from 'typeorm';
import { HOST_TENANTS_LISTED } from './alarms.responses';

/** How often each API process reads the fleet's alarms from CloudWatch, whatever the number of readers. */
export const FLEET_ALARMS_REFRESH_MS = 15_000;
/** A refresh that takes longer is abandoned, so that a hung CloudWatch call cannot stop the refreshes. */
export const FLEET_ALARMS_REFRESH_TIMEOUT_MS = 30_000;

/** A tenant as the fleet alarm view names it. */
export interface AlarmTenant {
  id: string;
  slug: string;
  tier: TierName;
}

/**
 * An alarm of the fleet view: a tenant instance's (`of: 'tenant'`), or a shared host's (`of:
 * 'host'`), which concerns every tenant placed on the host.
 */
export type FleetAlarm = AlarmView &
  (
    | { of: 'tenant'; tenant: AlarmTenant; host: null; hostTenants: null }
    | {
        of: 'host';
        tenant: null;
        host: { id: string; name: string; placement: SharedPlacement; tier: TierName };
        /** The tenants on the host that are not DELETED: how many, and the first {@link HOST_TENANTS_LISTED} by slug. */
        hostTenants: { count: number; items: AlarmTenant[] };
      }
  );

/** One good read of every alarm under the prefix. */
export interface FleetAlarmsSnapshot {
  /** When CloudWatch was read (the refresh started). */
  readAt: Date;
  /** Alarms of tenants that are not DELETED and of hosts that are not deleted, newest state change first. */
  fleet: FleetAlarm[];
  /** Every alarm under the prefix, in any state, by the slug its name gives. */
  bySlug: ReadonlyMap<string, readonly AlarmView[]>;
  /** Firing (ALARM) alarms per tenant id: counted once per read, not on every tenant read. */
  firing: ReadonlyMap<string, number>;
}

/**
 * The alarms of every tenant and shared host, read from CloudWatch in the background (DescribeAlarms by name
 * prefix, in pages of 100) every {@link FLEET_ALARMS_REFRESH_MS} with one refresh in flight, and
 * served to every reader from memory: dashboards refreshing every few seconds, tenant pages and
 * tenant lists cost CloudWatch nothing beyond the refresh. A failed refresh is logged and the
 * last good answer kept, with its `readAt`. Until the first refresh succeeds, {@link current}
 * answers nothing (tenant reads show the firing count as unknown) and {@link snapshot} waits for
 * the first refresh in flight. Alarms whose name matches no tenant and no host that is not
 * deleted (orphans, which the reconciler lists) are left out of the fleet view.
 */
@Injectable()
export class FleetAlarms implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(FleetAlarms.name);
  private last: FleetAlarmsSnapshot | undefined;
  private lastError: ProvisioningError | undefined;
  private inFlight: Promise<FleetAlarmsSnapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly alarms: TenantAlarms,
    private readonly dataSource: DataSource,
    private readonly settings: ProvisioningSettings,
  ) {}

  onApplicationBootstrap(): void {
    this.tick();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The last good answer, without waiting; undefined before the first refresh succeeded. */
  current(): FleetAlarmsSnapshot | undefined {
    return this.last;
  }

  /**
   * The last good answer; before the first, the first refresh in flight. Rejects (with the
   * refresh's error, a {@link ProvisioningError} when CloudWatch failed) when there is neither.
   */
  async snapshot(): Promise<FleetAlarmsSnapshot> {
    if (this.last) return this.last;
    if (this.inFlight) return this.inFlight;
    throw (
      this.lastError ?? new ProvisioningError(ProvisioningErrorCode.AWS_UNAVAILABLE, 'alarms not read yet')
    );
  }

  /** Alarms of every tenant and shared host in `state`, newest state change first. */
  async inState(state: AlarmState): Promise<{ readAt: Date; items: FleetAlarm[] }> {
    const snapshot = await this.snapshot();
    return { readAt: snapshot.readAt, items: snapshot.fleet.filter((a) => a.state === state) };
  }

  /** A tenant's alarms, in any state. */
  async of(slug: string): Promise<{ readAt: Date; items: readonly AlarmView[] }> {
    const snapshot = await this.snapshot();
    return { readAt: snapshot.readAt, items: snapshot.bySlug.get(slug) ?? [] };
  }

  /** Firing (ALARM) alarms per tenant id from the last good answer, never waiting; null before the first. */
  firingCounts(): ReadonlyMap<string, number> | null {
    return this.last?.firing ?? null;
  }

  /** Reads CloudWatch now, or joins the refresh in flight. */
  refresh(): Promise<FleetAlarmsSnapshot> {
    // A read past its time is aborted, not only abandoned: its HTTP calls end with it, so a
    // CloudWatch that hangs never piles up reads holding the SDK's sockets.
    const abort = new AbortController();
    this.inFlight ??= withTimeout(
      this.read(abort.signal),
      FLEET_ALARMS_REFRESH_TIMEOUT_MS,
      `CloudWatch did not answer within ${FLEET_ALARMS_REFRESH_TIMEOUT_MS} ms`,
    )
      .finally(() => abort.abort())
      .then(
        (snapshot) => {
          this.last = snapshot;
          this.lastError = undefined;
          return snapshot;
        },
        (error: unknown) => {
          const failure =
            error instanceof ProvisioningError
              ? error
              : new ProvisioningError(
                  ProvisioningErrorCode.AWS_UNAVAILABLE,
                  error instanceof Error ? error.message : String(error),
                  { cause: error },
                );
          this.lastError = failure;
          this.logger.warn(
            { err: failure.message, code: failure.code, lastReadAt: this.last?.readAt.toISOString() ?? null },
            'fleet alarms not refreshed; the last good answer is kept',
          );
          throw failure;
        },
      )
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /** One refresh, then the next one interval after it settled: never two at once. */
  private tick(): void {
    if (this.stopped) return;
    this.refresh()
      .catch(() => undefined)
      .finally(() => {
        if (this.stopped) return;
        this.timer = setTimeout(() => this.tick(), FLEET_ALARMS_REFRESH_MS);
        this.timer.unref();
      });
  }

  /**
   * The alarms of shared hosts (`<prefix>-host-<name>-<metric>`, filed under `host-<name>`) that
   * are not deleted, each with the host and the tenants on it: two queries, whatever the number
   * of hosts and tenants.
   */
  private async hostAlarms(bySlug: ReadonlyMap<string, readonly AlarmView[]>): Promise<FleetAlarm[]> {
    const names = [...bySlug.keys()].filter((s) => s.startsWith('host-')).map((s) => s.slice('host-'.length));
    if (!names.length) return [];
    const hosts = await this.dataSource.query<
      { id: string; name: string; placement: SharedPlacement; tier: TierName }[]
    >(`SELECT id, name, placement, tier FROM hosts WHERE status <> 'deleted' AND name = ANY($1::text[])`, [
      names,
    ]);
    if (!hosts.length) return [];
    const placed = await this.dataSource.query<
      { host_id: string; id: string; slug: string; tier: TierName; total: number }[]
    >(
      `SELECT host_id, id, slug, tier, total FROM (
         SELECT t.host_id, t.id, t.slug, t.tier,
                row_number() OVER (PARTITION BY t.host_id ORDER BY t.slug) AS n,
                count(*) OVER (PARTITION BY t.host_id)::int AS total
           FROM tenants t WHERE t.status <> 'DELETED' AND t.host_id = ANY($1::uuid[])) p
        WHERE n <= $2 ORDER BY host_id, slug`,
      [hosts.map((h) => h.id), HOST_TENANTS_LISTED],
    );
    const onHost = new Map<string, { count: number; items: AlarmTenant[] }>();
    for (const t of placed) {
      const entry = onHost.get(t.host_id) ?? { count: t.total, items: [] };
      entry.items.push({ id: t.id, slug: t.slug, tier: t.tier });
      onHost.set(t.host_id, entry);
    }
    return hosts.flatMap((h) =>
      (bySlug.get(`host-${h.name}`) ?? []).map((alarm) => ({
        ...alarm,
        of: 'host' as const,
        tenant: null,
        host: { id: h.id, name: h.name, placement: h.placement, tier: h.tier },
        hostTenants: onHost.get(h.id) ?? { count: 0, items: [] },
      })),
    );
  }

  private async read(signal: AbortSignal): Promise<FleetAlarmsSnapshot> {
    const readAt = new Date();
    const prefix = this.settings.prefix;
    // Each region's CloudWatch holds the alarms of the tenants and hosts that live there.
    const alarms = (
      await Promise.all(
        this.settings.regions.map((region) => this.alarms.inRegion(region).withPrefix(prefix, signal)),
      )
    ).flat();
    const bySlug = new Map<string, AlarmView[]>();
    for (const alarm of alarms) {
      const slug = slugOf(prefix, alarm.name);
      if (!slug) continue;
      const list = bySlug.get(slug);
      if (list) list.push(alarm);
      else bySlug.set(slug, [alarm]);
    }
    for (const list of bySlug.values()) list.sort(byName);
    if (!bySlug.size) return { readAt, fleet: [], bySlug, firing: new Map() };
    const tenants = await this.dataSource.getRepository(TenantEntity).find({
      select: { id: true, slug: true, tier: true },
      where: { slug: In([...bySlug.keys()]), status: Not('DELETED') },
    });
    const fleet: FleetAlarm[] = tenants.flatMap((t) =>
      (bySlug.get(t.slug) ?? []).map((alarm) => ({
        ...alarm,
        of: 'tenant' as const,
        tenant: { id: t.id, slug: t.slug, tier: t.tier },
        host: null,
        hostTenants: null,
      })),
    );
    fleet.push(...(await this.hostAlarms(bySlug)));
    const firing = new Map<string, number>();
    for (const alarm of fleet) {
      if (alarm.of === 'tenant' && alarm.state === 'ALARM')
        firing.set(alarm.tenant.id, (firing.get(alarm.tenant.id) ?? 0) + 1);
    }
    // A schema or pool tenant's alarms are its host's (`<prefix>-host-<name>-<metric>`): each
    // tenant on a host with firing alarms counts them as its own.
    const firingHosts = new Map<string, number>();
    for (const [slug, list] of bySlug) {
      const count = slug.startsWith('host-') ? list.filter((a) => a.state === 'ALARM').length : 0;
      if (count) firingHosts.set(slug.slice('host-'.length), count);
    }
    if (firingHosts.size) {
      const placed = await this.dataSource.query<{ id: string; name: string }[]>(
        `SELECT t.id, h.name FROM tenants t JOIN hosts h ON h.id = t.host_id
          WHERE t.status <> 'DELETED' AND h.name = ANY($1::text[])`,
        [[...firingHosts.keys()]],
      );
      for (const t of placed) firing.set(t.id, firingHosts.get(t.name) ?? 0);
    }
    return { readAt, fleet: fleet.sort(newestFirst), bySlug, firing };
  }
}

/** The slug in `<prefix>-<slug>-<metric>`, or null for a name Silo did not give. */
export function slugOf(prefix: string, name: string): string | null {
  if (!name.startsWith(`${prefix}-`)) return null;
  const metric = ALARM_METRICS.find((m) => name.endsWith(`-${m}`));
  if (!metric) return null;
  const slug = name.slice(prefix.length + 1, name.length - metric.length - 1);
  return slug || null;
}

/** Newest state change first; ties by name, so that pages are stable. */
export function newestFirst(a: AlarmView, b: AlarmView): number {
  const [ta, tb] = [a.updatedAt?.getTime() ?? 0, b.updatedAt?.getTime() ?? 0];
  return tb - ta || byName(a, b);
}

function byName(a: AlarmView, b: AlarmView): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
