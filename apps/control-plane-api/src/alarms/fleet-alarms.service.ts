import { Injectable } from '@nestjs/common';
import { TenantAlarms, type AlarmState, type AlarmView } from '@silo/aws';
import { TenantEntity } from '@silo/control-plane-db';
import type { TierName } from '@silo/core';
import { ALARM_METRICS, ProvisioningSettings } from '@silo/provisioning';
import { DataSource, In, Not } from 'typeorm';

/** How long one read of the fleet's alarms in a state is served to every caller. */
export const FLEET_ALARMS_CACHE_MS = 15_000;

export interface FleetAlarm extends AlarmView {
  tenant: { id: string; slug: string; tier: TierName };
}

interface Snapshot {
  readAt: number;
  items: Promise<FleetAlarm[]>;
}

/**
 * The alarms of every tenant in one state, newest state change first, read from CloudWatch in
 * pages (DescribeAlarms by name prefix and state) and kept for {@link FLEET_ALARMS_CACHE_MS}, so
 * that dashboards refreshing every few seconds cost CloudWatch one read per state per 15 s. One
 * read at a time per state: callers arriving meanwhile share it. Alarms whose name matches no
 * tenant (orphans, which the reconciler lists) are left out.
 */
@Injectable()
export class FleetAlarms {
  private readonly snapshots = new Map<AlarmState, Snapshot>();

  constructor(
    private readonly alarms: TenantAlarms,
    private readonly dataSource: DataSource,
    private readonly settings: ProvisioningSettings,
  ) {}

  inState(state: AlarmState): Promise<FleetAlarm[]> {
    const cached = this.snapshots.get(state);
    if (cached && Date.now() - cached.readAt < FLEET_ALARMS_CACHE_MS) return cached.items;
    const items = this.read(state);
    const snapshot = { readAt: Date.now(), items };
    this.snapshots.set(state, snapshot);
    // A failed read is not kept: the next caller tries again.
    items.catch(() => {
      if (this.snapshots.get(state) === snapshot) this.snapshots.delete(state);
    });
    return items;
  }

  /** Firing (ALARM) alarms per tenant id, from the same cached read; null when CloudWatch cannot be read. */
  async firingCounts(): Promise<Map<string, number> | null> {
    try {
      const counts = new Map<string, number>();
      for (const alarm of await this.inState('ALARM')) {
        counts.set(alarm.tenant.id, (counts.get(alarm.tenant.id) ?? 0) + 1);
      }
      return counts;
    } catch {
      return null;
    }
  }

  private async read(state: AlarmState): Promise<FleetAlarm[]> {
    const prefix = this.settings.prefix;
    const alarms = await this.alarms.inState(prefix, state);
    const bySlug = new Map<string, AlarmView[]>();
    for (const alarm of alarms) {
      const slug = slugOf(prefix, alarm.name);
      if (slug) bySlug.set(slug, [...(bySlug.get(slug) ?? []), alarm]);
    }
    if (!bySlug.size) return [];
    const tenants = await this.dataSource.getRepository(TenantEntity).find({
      select: { id: true, slug: true, tier: true },
      where: { slug: In([...bySlug.keys()]), status: Not('DELETED') },
    });
    const items = tenants.flatMap((t) =>
      (bySlug.get(t.slug) ?? []).map((alarm) => ({
        ...alarm,
        tenant: { id: t.id, slug: t.slug, tier: t.tier },
      })),
    );
    return items.sort(newestFirst);
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
  return tb - ta || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
