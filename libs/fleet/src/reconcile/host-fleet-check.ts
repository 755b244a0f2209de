import type { FleetAlarm, FleetInstance, FleetSecret } from '@silo/aws';
import { HostEntity, ReconcileHostFindingEntity } from '@silo/control-plane-db';
import { hostResourceNames } from '@silo/core';
import type { DataSource } from 'typeorm';
import { hostAlarmNames } from '../hosts/host-alarm-specs';
import { hostLockKey } from '../hosts/host-step-store';
import type { SagaLog } from '../store/provisioning-store';
import { findingScope, type Finding, type Repair } from './drift';
import type { FleetAccess, FleetSettings, RegionScope } from './fleet-check';
import { hostDrift } from './host-drift';
import { repairUnderLock, type RepairOutcome } from './repairs';

export interface HostFleetCheckResult {
  /** Available hosts compared. */
  checked: number;
  /** Repairs that went through. */
  repaired: number;
}

/**
 * The shared hosts' half of a pass's drift check: every `available` host against its record and
 * its tier's profile ({@link hostDrift}), on the instances and secrets the pass read already and
 * the alarms of every host (four names a host, 100 a DescribeAlarms call: hosts are few, each
 * carrying many tenants). Repairs what a tenant's check would repair, under the host's saga lock
 * after checking it is still available; records findings in `reconcile_host_findings` (one row
 * per host and field) and logs each one as it opens, is repaired or clears: hosts have no events
 * table of their own. Findings of hosts no longer available are dropped.
 */
export class HostFleetCheck {
  constructor(
    private readonly dataSource: DataSource,
    private readonly aws: FleetAccess,
    private readonly settings: FleetSettings,
    private readonly log: SagaLog & { info(fields: object, message: string): void },
  ) {}

  /** `scope`: the hosts of that region only (a NULL region is the default region's). */
  async run(
    inventory: {
      instances: ReadonlyMap<string, FleetInstance>;
      secrets: ReadonlyMap<string, FleetSecret>;
      deprecatedEngineVersions?: ReadonlySet<string>;
    },
    scope?: Pick<RegionScope, 'region' | 'defaultRegion'>,
  ): Promise<HostFleetCheckResult> {
    const { prefix } = this.settings;
    const hosts = (
      await this.dataSource
        .getRepository(HostEntity)
        .find({ where: { status: 'available' }, order: { name: 'ASC' } })
    ).filter((h) => !scope || (h.region ?? scope.defaultRegion) === scope.region);
    const alarmNames = hosts
      .map((h) => hostResourceNames(prefix, h.name))
      .filter((names) => inventory.instances.has(names.instanceIdentifier))
      .flatMap((names) => hostAlarmNames(names));
    const alarms = new Map<string, FleetAlarm>(
      alarmNames.length ? (await this.aws.alarms(alarmNames)).map((a) => [a.name, a]) : [],
    );
    const open = await this.openFindings();
    let repaired = 0;
    for (const host of hosts) {
      const instance = inventory.instances.get(hostResourceNames(prefix, host.name).instanceIdentifier);
      const drift = hostDrift(
        host,
        {
          instance,
          secrets: inventory.secrets,
          alarms,
          deprecatedEngineVersions: inventory.deprecatedEngineVersions,
        },
        this.settings,
      );
      const mine = open.get(host.id) ?? new Map<string, ReconcileHostFindingEntity>();
      const stale = [...mine.values()].filter(
        (f) => drift.scopes.has(findingScope(f.field)) && !drift.findings.some((n) => n.field === f.field),
      );
      if (!drift.findings.length && !stale.length) continue;
      const outcome = await this.repair(host, instance, drift.repairs);
      repaired += outcome.repaired.size;
      await this.record(host, drift.findings, mine, stale, outcome);
    }
    await this.dataSource.query(
      `DELETE FROM reconcile_host_findings f USING hosts h WHERE f.host_id = h.id AND h.status <> 'available'`,
    );
    return { checked: hosts.length, repaired };
  }

  private async openFindings(): Promise<Map<string, Map<string, ReconcileHostFindingEntity>>> {
    const rows = await this.dataSource.getRepository(ReconcileHostFindingEntity).find();
    const byHost = new Map<string, Map<string, ReconcileHostFindingEntity>>();
    for (const row of rows) {
      const mine = byHost.get(row.hostId) ?? new Map<string, ReconcileHostFindingEntity>();
      mine.set(row.field, row);
      byHost.set(row.hostId, mine);
    }
    return byHost;
  }

  /**
   * The host's repairs under its saga lock (`silo:host:<id>`: no create or delete pass runs
   * meanwhile), after checking it is still available; tags first, instance settings only while
   * the instance is `available`. A repair that fails is tried again next pass.
   */
  private repair(
    host: HostEntity,
    instance: FleetInstance | undefined,
    repairs: Repair[],
  ): Promise<RepairOutcome> {
    return repairUnderLock({
      dataSource: this.dataSource,
      aws: this.aws,
      lockKey: hostLockKey(host.id),
      busy: 'host busy in its saga; next pass',
      unchanged: async (runner) => {
        const [still] = (await runner.query('SELECT status FROM hosts WHERE id = $1', [host.id])) as {
          status: HostEntity['status'];
        }[];
        return still?.status === 'available' ? null : `host is now ${still?.status ?? 'gone'}`;
      },
      instance,
      repairs,
      failed: (r, message) =>
        this.log.warn(
          { hostId: host.id, host: host.name, repair: r.kind, fields: r.fields, err: message },
          'host repair failed; next pass tries again',
        ),
    });
  }

  /**
   * One transaction per host with something to say: a repaired field's row goes, one that opens
   * is inserted, one that stays is updated (`last_seen_at`), one that went away is deleted; each
   * change but an update is logged once (`host drift detected`, `host drift repaired`, `host
   * drift cleared`, with the host, field, expected and found).
   */
  private async record(
    host: HostEntity,
    findings: Finding[],
    open: Map<string, ReconcileHostFindingEntity>,
    stale: ReconcileHostFindingEntity[],
    outcome: RepairOutcome,
  ): Promise<void> {
    const about = (f: Pick<Finding, 'field' | 'kind' | 'severity' | 'expected' | 'found'>) => ({
      hostId: host.id,
      host: host.name,
      field: f.field,
      kind: f.kind,
      severity: f.severity,
      expected: f.expected,
      found: f.found,
    });
    await this.dataSource.transaction(async (em) => {
      for (const f of findings) {
        const where = { hostId: host.id, field: f.field };
        if (outcome.repaired.has(f.field)) {
          await em.delete(ReconcileHostFindingEntity, where);
          this.log.warn(about(f), 'host drift repaired');
          continue;
        }
        const repairError = outcome.errors.get(f.field) ?? null;
        if (open.has(f.field)) {
          await em.update(ReconcileHostFindingEntity, where, {
            kind: f.kind,
            severity: f.severity,
            expected: f.expected,
            found: f.found,
            repairError,
            lastSeenAt: () => 'now()',
          });
          continue;
        }
        await em.insert(ReconcileHostFindingEntity, { ...where, ...f, repairError });
        this.log.warn({ ...about(f), repairError }, 'host drift detected');
      }
      for (const f of stale) {
        await em.delete(ReconcileHostFindingEntity, { hostId: host.id, field: f.field });
        this.log.info(about(f), 'host drift cleared');
      }
    });
  }
}
