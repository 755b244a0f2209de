import type {
  AlarmSpec,
  FleetAlarm,
  FleetInstance,
  FleetSecret,
  FleetSnapshot,
  InstanceProtection,
  Tags,
  EngineVersionStatus,
} from '@silo/aws';
import { ReconcileFindingEntity, ReconcileOrphanEntity } from '@silo/control-plane-db';
import {
  HOST_NAME_PATTERN,
  hostResourceNames,
  tenantResourceNames,
  tenantTags,
  type Placement,
  type TenantStatus,
  type TierName,
} from '@silo/core';
import type { DataSource, EntityManager } from 'typeorm';
import { hostAlarmNames } from '../hosts/host-alarm-specs';
import { ALARM_METRICS, alarmProfile, tenantAlarmSpecs } from '../saga/tenant-alarm-specs';
import type { SagaContext, SagaLog } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import type { TierProfiles } from '../tiers';
import {
  alarmDrift,
  deprecatedEngineVersions,
  findingScope,
  instanceDrift,
  secretDrift,
  type Finding,
  type Repair,
} from './drift';
import { HostFleetCheck } from './host-fleet-check';
import { OrphanDeletion } from './orphan-deletion';
import { repairUnderLock, type RepairOutcome } from './repairs';
import {
  findOrphans,
  orphanedBy,
  type KnownHost,
  type KnownOwners,
  type KnownTenant,
  type Orphan,
} from './orphans';

/** What a pass reads of the fleet and changes in it (libs/aws's FleetInventory and TenantAlarms fit). */
export interface FleetAccess {
  instances(prefix: string): Promise<FleetInstance[]>;
  secrets(prefix: string): Promise<FleetSecret[]>;
  snapshots(prefix: string): Promise<FleetSnapshot[]>;
  alarms(names: readonly string[]): Promise<FleetAlarm[]>;
  alarmTags(arn: string): Promise<Record<string, string>>;
  protectInstance(identifier: string, settings: InstanceProtection): Promise<void>;
  tagInstance(arn: string, tags: Tags): Promise<void>;
  tagSecret(nameOrArn: string, tags: Tags): Promise<void>;
  /** Creates or overwrites the alarm (PutMetricAlarm). */
  putAlarm(spec: AlarmSpec): Promise<void>;
  /** What RDS says of an engine version (RdsEngineVersions); absent: versions are not checked. */
  engineVersions?: { status(version: string): Promise<EngineVersionStatus> };
}

export interface FleetSettings {
  prefix: string;
  environment: string;
  tiers: TierProfiles;
  kmsKeyId?: string;
  alarmActions: readonly string[];
  finalSnapshotRetentionDays: number;
  /** FINAL_SNAPSHOT_EXPIRY: `delete` has each pass ask for the deletion of final snapshots past their retention. */
  finalSnapshotExpiry?: 'keep' | 'delete';
}

/**
 * The region a check looks at: its tenants and hosts (a NULL region is `defaultRegion`'s) in that
 * region's AWS, through that region's access. Unset: every tenant and host, through one access.
 */
export interface RegionScope {
  region: string;
  defaultRegion: string;
  /** The tenants whose alarms the pass reads (chosen over every region at once), and the cursor after it. */
  window?: { ids: ReadonlySet<string>; through: string | null };
}

/** One region's access and settings (its KMS key and alarm topic) for the reconciler. */
export interface RegionalFleet {
  region: string;
  access: FleetAccess;
  settings: FleetSettings;
}

export interface FleetCheckResult {
  /** ACTIVE and SUSPENDED tenants compared. */
  checked: number;
  /** Available shared hosts compared. */
  hostsChecked: number;
  /** Repairs that went through, on tenants and hosts. */
  repaired: number;
  /** Open findings after the pass, on tenants and hosts. */
  reported: number;
  critical: number;
  orphans: number;
  alarmsCheckedThrough: string | null;
}

interface TenantRow {
  id: string;
  slug: string;
  tier: TierName;
  status: TenantStatus;
  /** Shared tenants have no instance, alarms or master secret of their own: their host's are checked. */
  placement: Placement;
  updated_at: Date;
  /** An open change (tier change, rotation, …; of a DELETED tenant: an undelete) holds the tenant. */
  changing: boolean;
}

interface HostRow {
  id: string;
  status: KnownHost['status'];
  name: string;
  deleted_at: Date | null;
}

/** Tenants whose alarms one DescribeAlarms call reads (four alarms each, 100 names a call). */
const TENANTS_PER_ALARM_CALL = Math.floor(100 / ALARM_METRICS.length);
/** DELETED tenants looked at for alarms left behind: those deleted within this long. */
const RECENTLY_DELETED_MS = 86_400_000;
const LIVE = new Set<TenantStatus>(['ACTIVE', 'SUSPENDED']);

/**
 * The drift and orphan half of a reconcile pass. Reads the fleet in pages (instances, secrets
 * and snapshots in full; the alarms of a rotating window of tenants by name), compares every
 * ACTIVE and SUSPENDED tenant with its tier profile, repairs what is safe to repair, records
 * findings (one row per tenant and field, one event when it opens, clears or is repaired) and
 * orphans. AWS calls per pass: ceil(N/100) instance pages, ceil(2N/100) secret pages, the
 * snapshot pages, ceil(N/100) alarm calls (a window of 25·ceil(N/100) tenants, so every tenant's
 * alarms at least every fourth pass and all of them every pass up to 25 tenants), one call per
 * repair and per alarm an orphan may have left.
 */
export class FleetCheck {
  constructor(
    private readonly dataSource: DataSource,
    private readonly aws: FleetAccess,
    private readonly settings: FleetSettings,
    private readonly log: SagaLog & { info(fields: object, message: string): void },
    private readonly now: () => Date = () => new Date(),
    private readonly scope?: RegionScope,
  ) {}

  async run(ctx: SagaContext, alarmsCheckedAfter: string | null): Promise<FleetCheckResult> {
    const { orphanList, ...result } = await this.check(ctx, alarmsCheckedAfter);
    await this.recordOrphans(orphanList);
    await this.expireFinalSnapshots(orphanList, ctx);
    return result;
  }

  /**
   * With FINAL_SNAPSHOT_EXPIRY=delete: the deletion of every final snapshot of a deleted tenant or
   * host past FINAL_SNAPSHOT_RETENTION_DAYS (recorded as an orphan by this pass, not asked for
   * yet) is asked for as an operator would ask (OrphanDeletion: the worker reads its tags again
   * before it deletes). A manual snapshot counts against RDS's quota (100 per region by default)
   * until it is deleted: kept, the 101st deletion within the retention would fail.
   */
  private async expireFinalSnapshots(orphans: readonly Orphan[], ctx: SagaContext): Promise<void> {
    if (this.settings.finalSnapshotExpiry !== 'delete') return;
    const expired = orphans.filter((o) => o.expiredFinalSnapshot).map((o) => o.name);
    if (!expired.length) return;
    const due = await this.dataSource.query<Array<{ name: string }>>(
      `SELECT name FROM reconcile_orphans WHERE type = 'snapshot' AND name = ANY($1) AND deletion_requested_at IS NULL`,
      [expired],
    );
    if (!due.length) return;
    const { jobId } = await new OrphanDeletion(this.dataSource).request(
      due.map((d) => ({ type: 'snapshot' as const, name: d.name })),
      ctx,
    );
    this.log.info(
      { jobId, snapshots: due.map((d) => d.name) },
      'final snapshots past their retention: deletion asked for (FINAL_SNAPSHOT_EXPIRY=delete)',
    );
  }

  /**
   * A pass over every region: each region's tenants and hosts compared with that region's AWS
   * (through its own clients, with its key and topic), the alarm window chosen over the whole
   * fleet, and the orphans of every region recorded together.
   */
  static async everyRegion(
    dataSource: DataSource,
    regions: readonly RegionalFleet[],
    defaultRegion: string,
    log: SagaLog & { info(fields: object, message: string): void },
    ctx: SagaContext,
    alarmsCheckedAfter: string | null,
    now: () => Date = () => new Date(),
  ): Promise<FleetCheckResult> {
    const first = regions[0];
    const all = await new FleetCheck(dataSource, first.access, first.settings, log, now).liveTenants(null);
    const window = new FleetCheck(dataSource, first.access, first.settings, log, now).alarmWindow(
      all.filter((t) => t.placement === 'instance'),
      alarmsCheckedAfter,
    );
    const ids = new Set(window.tenants.map((t) => t.id));
    const total: FleetCheckResult = {
      checked: 0,
      hostsChecked: 0,
      repaired: 0,
      reported: 0,
      critical: 0,
      orphans: 0,
      alarmsCheckedThrough: window.through,
    };
    const orphans: Orphan[] = [];
    let last: FleetCheck | null = null;
    for (const { region, access, settings } of regions) {
      last = new FleetCheck(dataSource, access, settings, log, now, {
        region,
        defaultRegion,
        window: { ids, through: window.through },
      });
      const { orphanList, ...result } = await last.check(ctx, alarmsCheckedAfter);
      total.checked += result.checked;
      total.hostsChecked += result.hostsChecked;
      total.repaired += result.repaired;
      // Counted over every region's findings at once, so the last region's count is the fleet's.
      total.reported = result.reported;
      total.critical = result.critical;
      orphans.push(...orphanList);
    }
    await last!.recordOrphans(orphans);
    await last!.expireFinalSnapshots(orphans, ctx);
    total.orphans = orphans.length;
    return total;
  }

  /** Tenants of the scope's region (every tenant with `region` null), changing ones marked. */
  private liveTenants(region: RegionScope | null): Promise<TenantRow[]> {
    return this.dataSource.query<TenantRow[]>(
      `SELECT id, slug, tier, status, placement, updated_at,
              EXISTS (SELECT 1 FROM tenant_changes c
                       WHERE c.tenant_id = t.id AND c.status IN ('RUNNING', 'PENDING_MAINTENANCE')) AS changing
         FROM tenants t
        WHERE $1::text IS NULL OR coalesce(t.region, $2::text) = $1::text
        ORDER BY id`,
      [region?.region ?? null, region?.defaultRegion ?? null],
    );
  }

  private async check(
    ctx: SagaContext,
    alarmsCheckedAfter: string | null,
  ): Promise<FleetCheckResult & { orphanList: Orphan[] }> {
    const { prefix, environment } = this.settings;
    const tenants = await this.liveTenants(this.scope ?? null);
    // Orphans are judged against every tenant, of every region: a resource of a live tenant is never one.
    const everyTenant = this.scope
      ? await this.dataSource.query<Pick<TenantRow, 'id' | 'status' | 'slug' | 'changing'>[]>(
          `SELECT id, status, slug,
                  EXISTS (SELECT 1 FROM tenant_changes c
                           WHERE c.tenant_id = t.id AND c.status IN ('RUNNING', 'PENDING_MAINTENANCE')) AS changing
             FROM tenants t`,
        )
      : tenants;
    const [instances, secrets, snapshots] = await Promise.all([
      this.aws.instances(prefix),
      this.aws.secrets(prefix),
      this.aws.snapshots(prefix),
    ]);
    const instanceBy = new Map(instances.map((i) => [i.identifier, i]));
    const secretBy = new Map(secrets.map((s) => [s.name, s]));
    const deprecated = await deprecatedEngineVersions(this.aws.engineVersions, instances);
    // A tenant in the middle of a change is on its way between two tiers: the change's own
    // steps set what it should be, and comparing it with either tier would undo them.
    const settled = tenants.filter((t) => LIVE.has(t.status) && !t.changing);
    const live = settled.filter((t) => t.placement === 'instance');

    const window = this.scope?.window
      ? {
          tenants: live.filter((t) => this.scope!.window!.ids.has(t.id)),
          through: this.scope.window.through,
        }
      : this.alarmWindow(live, alarmsCheckedAfter);
    const inWindow = new Set(window.tenants.map((t) => t.id));
    const alarmNames = window.tenants
      .filter((t) => instanceBy.has(tenantResourceNames(prefix, t.slug).instanceIdentifier))
      .flatMap((t) => ALARM_METRICS.map((m) => tenantResourceNames(prefix, t.slug).alarmName(m)));
    const alarmBy = new Map((await this.aws.alarms(alarmNames)).map((a) => [a.name, a]));

    const open = await this.openFindings();
    let repaired = 0;
    for (const tenant of live) {
      const names = tenantResourceNames(prefix, tenant.slug);
      const profile = this.settings.tiers[tenant.tier];
      const tags = tenantTags(tenant, environment);
      const instance = instanceBy.get(names.instanceIdentifier);
      const drifts = [
        instanceDrift(instance, {
          identifier: names.instanceIdentifier,
          profile,
          tags,
          kmsKeyId: this.settings.kmsKeyId,
          prefix,
          deprecatedEngineVersions: deprecated,
        }),
        secretDrift('master', names.masterSecretName, secretBy.get(names.masterSecretName), tags),
        secretDrift('app', names.appSecretName, secretBy.get(names.appSecretName), tags),
      ];
      const scopes = new Set<string>(['instance', 'secret']);
      if (inWindow.has(tenant.id) && instance && instance.status !== 'deleting') {
        scopes.add('alarm');
        const specs = tenantAlarmSpecs(names, alarmProfile(profile, instance.allocatedStorageGiB), {
          actions: this.settings.alarmActions,
          tags,
        });
        for (const spec of specs) drifts.push(alarmDrift(spec, alarmBy.get(spec.name)));
      }
      const findings = drifts.flatMap((d) => d.findings);
      const mine = open.get(tenant.id) ?? new Map<string, ReconcileFindingEntity>();
      const stale = [...mine.values()].filter(
        (f) => scopes.has(findingScope(f.field)) && !findings.some((n) => n.field === f.field),
      );
      if (!findings.length && !stale.length) continue;
      const outcome = await this.repair(
        tenant,
        instance,
        drifts.flatMap((d) => d.repairs),
      );
      repaired += outcome.repaired.size;
      await this.record(tenant, findings, mine, stale, outcome, ctx);
    }
    // A schema tenant's own AWS resource is its app secret; a pooled tenant has none.
    for (const tenant of settled.filter((t) => t.placement === 'schema')) {
      const names = tenantResourceNames(prefix, tenant.slug);
      const drift = secretDrift(
        'app',
        names.appSecretName,
        secretBy.get(names.appSecretName),
        tenantTags(tenant, environment),
      );
      const mine = open.get(tenant.id) ?? new Map<string, ReconcileFindingEntity>();
      const stale = [...mine.values()].filter((f) => !drift.findings.some((n) => n.field === f.field));
      if (!drift.findings.length && !stale.length) continue;
      const outcome = await this.repair(tenant, undefined, drift.repairs);
      repaired += outcome.repaired.size;
      await this.record(tenant, drift.findings, mine, stale, outcome, ctx);
    }
    await this.dataSource.query(
      `DELETE FROM reconcile_findings f USING tenants t
        WHERE f.tenant_id = t.id AND t.status NOT IN ('ACTIVE', 'SUSPENDED')`,
    );
    const hostCheck = await new HostFleetCheck(this.dataSource, this.aws, this.settings, this.log).run(
      { instances: instanceBy, secrets: secretBy, deprecatedEngineVersions: deprecated },
      this.scope,
    );
    repaired += hostCheck.repaired;

    const hosts = await this.dataSource.query<HostRow[]>('SELECT id, status, name, deleted_at FROM hosts');
    const known: KnownOwners = {
      tenants: new Map<string, KnownTenant>(
        everyTenant.map((t) => [t.id, { status: t.status, slug: t.slug, changing: t.changing }]),
      ),
      hosts: new Map<string, KnownHost>(hosts.map((h) => [h.id, { status: h.status, name: h.name }])),
    };
    const orphans = findOrphans({ instances, secrets, snapshots }, known, {
      environment,
      finalSnapshotRetentionDays: this.settings.finalSnapshotRetentionDays,
      now: this.now(),
    });
    orphans.push(...(await this.orphanAlarms(orphans, tenants, hosts, known)));

    const [counts] = await this.dataSource.query<{ reported: number; critical: number }[]>(
      `SELECT count(*) FILTER (WHERE kind = 'reported' AND severity = 'warning')::int AS reported,
              count(*) FILTER (WHERE severity = 'critical')::int AS critical
         FROM (SELECT kind, severity FROM reconcile_findings
               UNION ALL SELECT kind, severity FROM reconcile_host_findings) f`,
    );
    return {
      checked: settled.length,
      hostsChecked: hostCheck.checked,
      repaired,
      reported: counts.reported,
      critical: counts.critical,
      orphans: orphans.length,
      alarmsCheckedThrough: window.through,
      orphanList: orphans,
    };
  }

  /**
   * The tenants whose alarms this pass reads: as many as ceil(N/100) DescribeAlarms calls hold,
   * going on (by id) after the last pass's window and wrapping round. `through` is null when
   * the window is the whole fleet.
   */
  alarmWindow(live: TenantRow[], after: string | null): { tenants: TenantRow[]; through: string | null } {
    const size = TENANTS_PER_ALARM_CALL * Math.max(1, Math.ceil(live.length / 100));
    if (live.length <= size) return { tenants: live, through: null };
    const start = after ? live.findIndex((t) => t.id > after) : 0;
    const from = start < 0 ? 0 : start;
    const tenants = [...live.slice(from), ...live.slice(0, from)].slice(0, size);
    return { tenants, through: tenants[tenants.length - 1].id };
  }

  private async openFindings(): Promise<Map<string, Map<string, ReconcileFindingEntity>>> {
    const rows = await this.dataSource.getRepository(ReconcileFindingEntity).find();
    const byTenant = new Map<string, Map<string, ReconcileFindingEntity>>();
    for (const row of rows) {
      const mine = byTenant.get(row.tenantId) ?? new Map<string, ReconcileFindingEntity>();
      mine.set(row.field, row);
      byTenant.set(row.tenantId, mine);
    }
    return byTenant;
  }

  /**
   * Applies the tenant's repairs under its lock, tags first (IAM lets Silo change only what is
   * tagged `managed-by=silo`), after checking it is still ACTIVE or SUSPENDED. Instance settings
   * wait for the instance to be `available`; a repair that fails is tried again next pass.
   */
  private repair(
    tenant: TenantRow,
    instance: FleetInstance | undefined,
    repairs: Repair[],
  ): Promise<RepairOutcome> {
    return repairUnderLock({
      dataSource: this.dataSource,
      aws: this.aws,
      lockKey: `silo:tenant:${tenant.id}`,
      busy: 'tenant busy in a saga; next pass',
      unchanged: async (runner) => {
        const [still] = (await runner.query('SELECT status FROM tenants WHERE id = $1', [tenant.id])) as {
          status: TenantStatus;
        }[];
        return still && LIVE.has(still.status) ? null : `tenant is now ${still?.status ?? 'gone'}`;
      },
      instance,
      repairs,
      failed: (r, message) =>
        this.log.warn(
          { tenantId: tenant.id, repair: r.kind, fields: r.fields, err: message },
          'repair failed; next pass tries again',
        ),
    });
  }

  /**
   * One transaction per tenant with something to say: repaired fields get a
   * `tenant.drift_repaired` event each; a finding that opens gets `tenant.drift_detected`, one
   * that stays is only updated, one that went away gets `tenant.drift_cleared`.
   */
  private async record(
    tenant: TenantRow,
    findings: Finding[],
    open: Map<string, ReconcileFindingEntity>,
    stale: ReconcileFindingEntity[],
    outcome: RepairOutcome,
    ctx: SagaContext,
  ): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      for (const f of findings) {
        if (outcome.repaired.has(f.field)) {
          await em.delete(ReconcileFindingEntity, { tenantId: tenant.id, field: f.field });
          await this.event(
            em,
            tenant,
            'tenant.drift_repaired',
            `${f.field} was ${f.found}; set back to ${f.expected}`,
            f,
            ctx,
          );
          this.log.warn({ tenantId: tenant.id, ...f }, 'drift repaired');
          continue;
        }
        const repairError = outcome.errors.get(f.field) ?? null;
        const existing = open.get(f.field);
        if (existing) {
          await em.update(
            ReconcileFindingEntity,
            { tenantId: tenant.id, field: f.field },
            {
              kind: f.kind,
              severity: f.severity,
              expected: f.expected,
              found: f.found,
              repairError,
              lastSeenAt: () => 'now()',
            },
          );
          continue;
        }
        await em.insert(ReconcileFindingEntity, { tenantId: tenant.id, ...f, repairError });
        await this.event(
          em,
          tenant,
          'tenant.drift_detected',
          `${f.field}: expected ${f.expected}, found ${f.found}${f.kind === 'repairable' ? ' (repair pending)' : ''}`,
          f,
          ctx,
        );
        this.log.warn({ tenantId: tenant.id, ...f, repairError }, 'drift detected');
      }
      for (const f of stale) {
        await em.delete(ReconcileFindingEntity, { tenantId: tenant.id, field: f.field });
        await this.event(em, tenant, 'tenant.drift_cleared', `${f.field} is as expected again`, f, ctx);
      }
    });
  }

  private event(
    em: EntityManager,
    tenant: TenantRow,
    type: string,
    message: string,
    f: Pick<Finding, 'field' | 'kind' | 'severity' | 'expected' | 'found'>,
    ctx: SagaContext,
  ): Promise<void> {
    return appendTenantEvent(
      em,
      tenant.id,
      {
        type,
        message: `${tenant.slug}: ${message}`,
        data: { field: f.field, kind: f.kind, severity: f.severity, expected: f.expected, found: f.found },
      },
      ctx,
    );
  }

  /**
   * Alarms can only be listed by name, and listing every alarm would cost four calls per 100
   * tenants. The names looked at: those of the tenants and hosts the orphaned instances, secrets
   * and snapshots name, of tenants DELETED and hosts deleted in the last day, and of alarms
   * already known as orphans. Each one found is confirmed by its own tags.
   */
  private async orphanAlarms(
    found: Orphan[],
    tenants: TenantRow[],
    hosts: HostRow[],
    known: KnownOwners,
  ): Promise<Orphan[]> {
    const { prefix, environment } = this.settings;
    const slugs = new Set<string>();
    const hostNames = new Set<string>();
    for (const o of found) {
      if (o.tags['silo:tenant-slug']) slugs.add(o.tags['silo:tenant-slug']);
      if (o.tags['silo:host-name']) hostNames.add(o.tags['silo:host-name']);
    }
    const since = this.now().getTime() - RECENTLY_DELETED_MS;
    for (const t of tenants) if (t.status === 'DELETED' && t.updated_at.getTime() > since) slugs.add(t.slug);
    for (const h of hosts) if (h.deleted_at && h.deleted_at.getTime() > since) hostNames.add(h.name);
    const names = new Set<string>();
    for (const slug of slugs) {
      if (!/^[a-z][a-z0-9-]{1,30}[a-z0-9]$/.test(slug)) continue;
      for (const m of ALARM_METRICS) names.add(tenantResourceNames(prefix, slug).alarmName(m));
    }
    for (const name of hostNames) {
      if (!HOST_NAME_PATTERN.test(name)) continue;
      for (const alarm of hostAlarmNames(hostResourceNames(prefix, name))) names.add(alarm);
    }
    const previous = await this.dataSource
      .getRepository(ReconcileOrphanEntity)
      .find({ where: { type: 'alarm' }, select: { name: true } });
    for (const p of previous) names.add(p.name);
    const alarms = await this.aws.alarms([...names]);
    const orphans: Orphan[] = [];
    for (const alarm of alarms) {
      const tags = await this.aws.alarmTags(alarm.arn);
      if (orphanedBy(tags, known, environment)) {
        orphans.push({
          type: 'alarm',
          name: alarm.name,
          arn: alarm.arn,
          tenantId: tags['silo:tenant-id'] ?? '',
          tags,
        });
      }
    }
    return orphans;
  }

  /** Orphans seen now are upserted (keeping when they were first seen); the rest are gone. */
  async recordOrphans(orphans: Orphan[]): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      for (const o of orphans) {
        await em.query(
          `INSERT INTO reconcile_orphans (type, name, arn, tenant_id, tags)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (type, name) DO UPDATE
             SET arn = excluded.arn, tenant_id = excluded.tenant_id, tags = excluded.tags, last_seen_at = now()`,
          [o.type, o.name, o.arn, o.tenantId, JSON.stringify(o.tags)],
        );
      }
      // A type never holds '/', so type/name is unique.
      const seen = orphans.map((o) => `${o.type}/${o.name}`);
      await em.query(`DELETE FROM reconcile_orphans WHERE NOT (type || '/' || name = ANY($1::text[]))`, [
        seen,
      ]);
    });
  }
}

/** The fleet half of the reconciler, from the AWS adapters and the loaded settings. */
export function reconcilerFleet(
  inventory: Omit<FleetAccess, 'putAlarm' | 'engineVersions'>,
  alarms: { put(spec: AlarmSpec): Promise<void> },
  settings: Omit<FleetSettings, 'finalSnapshotRetentionDays' | 'finalSnapshotExpiry'>,
  finalSnapshots: number | { retentionDays: number; expiry: 'keep' | 'delete' },
  engineVersions?: FleetAccess['engineVersions'],
): { access: FleetAccess; settings: FleetSettings } {
  const { retentionDays, expiry } =
    typeof finalSnapshots === 'number'
      ? { retentionDays: finalSnapshots, expiry: 'keep' as const }
      : finalSnapshots;
  return {
    access: {
      instances: (prefix) => inventory.instances(prefix),
      secrets: (prefix) => inventory.secrets(prefix),
      snapshots: (prefix) => inventory.snapshots(prefix),
      alarms: (names) => inventory.alarms(names),
      alarmTags: (arn) => inventory.alarmTags(arn),
      protectInstance: (identifier, protection) => inventory.protectInstance(identifier, protection),
      tagInstance: (arn, tags) => inventory.tagInstance(arn, tags),
      tagSecret: (name, tags) => inventory.tagSecret(name, tags),
      putAlarm: (spec) => alarms.put(spec),
      ...(engineVersions && { engineVersions }),
    },
    settings: {
      prefix: settings.prefix,
      environment: settings.environment,
      tiers: settings.tiers,
      kmsKeyId: settings.kmsKeyId,
      alarmActions: settings.alarmActions,
      finalSnapshotRetentionDays: retentionDays,
      finalSnapshotExpiry: expiry,
    },
  };
}
