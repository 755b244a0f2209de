import { Injectable } from '@nestjs/common';
import { RdsInstances, TenantExports, TenantSecrets, type SnapshotView } from '@silo/aws';
import { findMigration } from '@silo/tenant-schema';
import { TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import { tenantResourceNames, TenantError, TenantErrorCode } from '@silo/core';
import { DataSource } from 'typeorm';
import { openChange } from '../changes/tenant-changes.service';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import { regionOf } from '../saga/regional-deps';
import type { SagaContext } from '../store/provisioning-store';
import type { SharedUndeletePlan, UndeletePlan, UndeleteSecret } from './undelete-plan';

/** The earliest end of the secrets' recovery windows; null when none was scheduled. */
function windowEnd(secrets: UndeleteSecret[]): string | null {
  return (
    secrets
      .map((s) => s.deletionDate)
      .filter((d): d is string => d !== null)
      .sort()[0] ?? null
  );
}

/** 409: an undelete of this DELETED tenant cannot be made; `rule` names why. */
function refused(rule: string, message: string, detail: Record<string, string> = {}): TenantError {
  return new TenantError(TenantErrorCode.UNDELETE_REFUSED, message, undefined, { rule, ...detail });
}

/**
 * Starts undeletes of DELETED tenants (a change of kind `undelete`, run by the worker's
 * UndeleteSaga). What is checked here is what the undelete needs and may have lost since the
 * deletion; a refusal records nothing:
 * - `slug-reused` (409): another tenant holds the slug, or the tenant's secret or instance names;
 * - `no-export` (409): a schema or pool tenant whose deletion exported nothing (it had no host that answered);
 * - `export-missing` (409): the export is no longer in S3 (deleted since, or past its lifecycle);
 * - `placement-changed` (409): the tenant's tier places its tenants elsewhere now;
 * - `no-final-snapshot` (409): its deletion took no final snapshot (a tier without backups);
 * - `final-snapshot-missing` (409): the final snapshot is not in RDS (deleted since);
 * - `final-snapshot-not-ready` (409): RDS is still making it;
 * - `recovery-window-ended` (409): a secret is gone or past its deletion date: its credentials
 *   cannot be restored, and an undelete never makes new ones;
 * - `instance-exists` (409): an instance already has the tenant's name.
 */
@Injectable()
export class TenantUndeletes {
  constructor(
    private readonly dataSource: DataSource,
    private readonly settings: ProvisioningSettings,
    private readonly rds: RdsInstances,
    private readonly secrets: TenantSecrets,
    private readonly exports: TenantExports,
  ) {}

  /** Plans the undelete of `tenantId` and records it (its change, event and job in one transaction). */
  async requestUndelete(tenantId: string, ctx: SagaContext): Promise<TenantEntity> {
    const before = await this.dataSource.getRepository(TenantEntity).findOneBy({ id: tenantId });
    if (!before) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
    this.assertDeleted(before);
    await this.assertSlugFree(before);
    const plan = before.placement === 'instance' ? await this.plan(before) : await this.planShared(before);
    return this.open(before, plan, ctx);
  }

  private assertDeleted(tenant: TenantEntity): void {
    if (tenant.status !== 'DELETED')
      throw new TenantError(
        TenantErrorCode.ILLEGAL_TRANSITION,
        `${tenant.slug} is ${tenant.status}; only a DELETED tenant is undeleted`,
        tenant.status,
      );
  }

  /** No other tenant row with the slug (slugs of deleted tenants may be given again). */
  private async assertSlugFree(tenant: TenantEntity): Promise<void> {
    const [other] = await this.dataSource.query<Array<{ id: string }>>(
      `SELECT id FROM tenants WHERE slug = $1 AND id <> $2 LIMIT 1`,
      [tenant.slug, tenant.id],
    );
    if (other)
      throw refused(
        'slug-reused',
        `the slug ${tenant.slug} is another tenant's now (${other.id}); ${tenant.id} cannot have it back`,
        { otherTenantId: other.id },
      );
  }

  private async plan(tenant: TenantEntity): Promise<UndeletePlan> {
    const region = regionOf(tenant, this.settings);
    const names = tenantResourceNames(this.settings.prefix, tenant.slug);
    const instance = names.instanceIdentifier;
    const rds = this.rds.inRegion(region);
    const snapshot = await this.finalSnapshot(tenant, instance, rds);
    const secrets = await this.restorableSecrets(tenant, region, [
      names.masterSecretName,
      names.appSecretName,
    ]);
    const existing = await rds.describe(instance);
    if (existing)
      throw refused(
        existing.tags['silo:tenant-id'] === tenant.id ? 'instance-exists' : 'slug-reused',
        `an instance named ${instance} exists already (${existing.status}); ${tenant.slug} is restored into that name only`,
        { instance },
      );
    return {
      placement: 'instance',
      region,
      finalSnapshot: snapshot.identifier,
      instanceIdentifier: instance,
      secrets,
      recoveryWindowEndsAt: windowEnd(secrets),
    };
  }

  /**
   * A schema or pool tenant's undelete: the export its latest deletion recorded, still in S3 and
   * tagged as the tenant's, its tier still of its placement, its schema version one the
   * application's migrations know (a schema tenant's ledger is made again to it), and a schema
   * tenant's app secret restorable.
   */
  private async planShared(tenant: TenantEntity): Promise<SharedUndeletePlan> {
    const placement = tenant.placement as SharedUndeletePlan['placement'];
    const region = regionOf(tenant, this.settings);
    const names = tenantResourceNames(this.settings.prefix, tenant.slug);
    const profile = this.settings.tiers[tenant.tier];
    if (!profile || profile.placement !== placement)
      throw refused(
        'placement-changed',
        `${tenant.slug} was a ${placement} tenant and its tier ${tenant.tier} now places its tenants ${profile ? `on ${profile.placement}` : 'nowhere (the tier is gone)'}: ` +
          'its export goes back only into a host of its own placement',
        { placement, tier: tenant.tier },
      );
    const recorded = await this.exportOf(tenant);
    const found = await this.exports.inRegion(region).describe(recorded.key, recorded.bucket || undefined);
    if (!found)
      throw refused(
        'export-missing',
        `${tenant.slug}'s export ${recorded.key} is no longer in S3: there is nothing to undelete from`,
        { export: recorded.key },
      );
    if (found.tags['silo:tenant-id'] !== tenant.id)
      throw refused(
        'slug-reused',
        `the export ${recorded.key} is not ${tenant.slug}'s (${tenant.id}): it is tagged for another tenant`,
        { export: recorded.key },
      );
    if (
      placement === 'schema' &&
      (!tenant.schemaVersion || !findMigration(this.settings.migrations, tenant.schemaVersion))
    )
      throw refused(
        'unknown-schema-version',
        `${tenant.slug} was at schema version ${tenant.schemaVersion ?? 'none'}, which the application's migrations do not have: ` +
          'its schema cannot be put back under their ledger',
        { schemaVersion: tenant.schemaVersion ?? '' },
      );
    const secrets =
      placement === 'schema' ? await this.restorableSecrets(tenant, region, [names.appSecretName]) : [];
    return {
      placement,
      region,
      export: {
        bucket: found.bucket,
        key: recorded.key,
        kind: placement === 'schema' ? 'schema-dump' : 'rows',
      },
      schemaVersion: tenant.schemaVersion,
      secrets,
      recoveryWindowEndsAt: windowEnd(secrets),
      // Where `place` records the host it reserves (jsonb_set makes no missing parent).
      to: {},
    };
  }

  /** The export the tenant's latest deletion recorded (its export step's step.completed event). */
  private async exportOf(tenant: TenantEntity): Promise<{ bucket: string; key: string }> {
    const [recorded] = await this.dataSource
      .getRepository(TenantEventEntity)
      .createQueryBuilder('e')
      .where('e.tenant_id = :id', { id: tenant.id })
      .andWhere(`e.type = 'step.completed'`)
      .andWhere(`e.data->>'saga' = 'deprovision' AND e.data->>'step' IN ('export-schema', 'export-rows')`)
      .orderBy('e.id', 'DESC')
      .limit(1)
      .getMany();
    const data = (recorded?.data ?? {}) as { bucket?: unknown; key?: unknown };
    if (typeof data.key !== 'string' || !data.key)
      throw refused(
        'no-export',
        `${tenant.slug}'s deletion exported no data (it had no host that answered): there is nothing to undelete from`,
      );
    return { bucket: typeof data.bucket === 'string' ? data.bucket : '', key: data.key };
  }

  /** The secrets an undelete restores: each still there (its recovery window open) and the tenant's. */
  private async restorableSecrets(
    tenant: TenantEntity,
    region: string,
    names: string[],
  ): Promise<UndeleteSecret[]> {
    const secrets: UndeleteSecret[] = [];
    for (const name of names) {
      const found = await this.secrets.inRegion(region).status(name);
      if (!found.exists)
        throw refused(
          'recovery-window-ended',
          `${tenant.slug}'s secret ${name} is deleted for good (its recovery window ended): its credentials cannot be restored`,
          { secret: name },
        );
      if (found.ownerTenantId !== tenant.id)
        throw refused(
          'slug-reused',
          `secret ${name} is not ${tenant.slug}'s (${tenant.id}) any more: another tenant holds its names`,
          { secret: name },
        );
      if (found.deletionDate && found.deletionDate.getTime() <= Date.now())
        throw refused(
          'recovery-window-ended',
          `${tenant.slug}'s secret ${name} was due for deletion at ${found.deletionDate.toISOString()}: its recovery window has ended`,
          { secret: name, deletionDate: found.deletionDate.toISOString() },
        );
      secrets.push({ name, deletionDate: found.deletionDate?.toISOString() ?? null });
    }
    return secrets;
  }

  /**
   * The final snapshot of the tenant's latest deletion: the one its delete-instance step recorded,
   * else (a deletion that took more than one pass records none) the newest `<instance>-final-*`
   * snapshot RDS has of the instance, tagged as the tenant's.
   */
  private async finalSnapshot(
    tenant: TenantEntity,
    instance: string,
    rds: RdsInstances,
  ): Promise<SnapshotView> {
    const [recorded] = await this.dataSource
      .getRepository(TenantEventEntity)
      .createQueryBuilder('e')
      .where('e.tenant_id = :id', { id: tenant.id })
      .andWhere(`e.type = 'step.completed'`)
      .andWhere(`e.data->>'saga' = 'deprovision' AND e.data->>'step' = 'delete-instance'`)
      .orderBy('e.id', 'DESC')
      .limit(1)
      .getMany();
    const named = (recorded?.data as { finalSnapshotIdentifier?: unknown } | undefined)
      ?.finalSnapshotIdentifier;
    const ours = (s: SnapshotView | null): s is SnapshotView =>
      s !== null && s.tags['silo:tenant-id'] === tenant.id && s.instanceIdentifier === instance;
    let snapshot: SnapshotView | null = null;
    if (typeof named === 'string' && named) {
      snapshot = await rds.snapshot(named);
      if (!ours(snapshot))
        throw refused(
          'final-snapshot-missing',
          `${tenant.slug}'s final snapshot ${named} is no longer in RDS: there is nothing to undelete from`,
          { snapshot: named },
        );
    } else {
      const finals = (await rds.snapshots(instance)).filter(
        (s) => ours(s) && s.type === 'manual' && s.identifier.startsWith(`${instance}-final-`),
      );
      snapshot = finals.at(-1) ?? null;
      if (!snapshot)
        throw refused(
          'no-final-snapshot',
          `${tenant.slug}'s deletion left no final snapshot (its tier ${tenant.tier} keeps ` +
            `${this.settings.tiers[tenant.tier]?.backupRetentionDays ?? 0} days of backups; a tier without backups takes none): there is nothing to undelete from`,
        );
    }
    if (snapshot.status !== 'available')
      throw refused(
        'final-snapshot-not-ready',
        `${tenant.slug}'s final snapshot ${snapshot.identifier} is ${snapshot.status}; undelete it once it is available`,
        { snapshot: snapshot.identifier },
      );
    return snapshot;
  }

  /** The change row, its event and its job in one transaction (openChange), the tenant locked and checked again. */
  private open(before: TenantEntity, plan: UndeletePlan, ctx: SagaContext): Promise<TenantEntity> {
    const source =
      plan.placement === 'instance' ? `snapshot ${plan.finalSnapshot}` : `export ${plan.export.key}`;
    return openChange(this.dataSource, before, ctx, 'an undelete', {
      kind: 'undelete',
      from: source.slice(0, 64),
      to: 'ACTIVE',
      apply: 'now',
      plan: { ...plan },
      event: {
        type: 'tenant.change_requested',
        message: `undelete of ${before.slug} from ${source} requested`,
        data: {
          kind: 'undelete',
          ...(plan.placement === 'instance'
            ? { finalSnapshot: plan.finalSnapshot }
            : { export: plan.export.key }),
          recoveryWindowEndsAt: plan.recoveryWindowEndsAt,
        },
      },
      assert: (tenant) => this.assertDeleted(tenant),
      stillValid: (tenant) => tenant.changeRun === before.changeRun,
      alreadyOpen: `${before.slug} is being undeleted already`,
    });
  }
}
