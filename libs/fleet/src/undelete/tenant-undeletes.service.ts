import { Injectable } from '@nestjs/common';
import { RdsInstances, TenantSecrets, type SnapshotView } from '@silo/aws';
import { TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import { tenantResourceNames, TenantError, TenantErrorCode } from '@silo/core';
import { DataSource } from 'typeorm';
import { openChange } from '../changes/tenant-changes.service';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import { regionOf } from '../saga/regional-deps';
import type { SagaContext } from '../store/provisioning-store';
import type { UndeletePlan, UndeleteSecret } from './undelete-plan';

/** 409: an undelete of this DELETED tenant cannot be made; `rule` names why. */
function refused(rule: string, message: string, detail: Record<string, string> = {}): TenantError {
  return new TenantError(TenantErrorCode.UNDELETE_REFUSED, message, undefined, { rule, ...detail });
}

/**
 * Starts undeletes of DELETED tenants (a change of kind `undelete`, run by the worker's
 * UndeleteSaga). What is checked here is what the undelete needs and may have lost since the
 * deletion; a refusal records nothing:
 * - `undelete-not-supported` (422): a schema or pool tenant: its S3 export is not re-imported yet;
 * - `slug-reused` (409): another tenant holds the slug, or the tenant's secret or instance names;
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
  ) {}

  /** Plans the undelete of `tenantId` and records it (its change, event and job in one transaction). */
  async requestUndelete(tenantId: string, ctx: SagaContext): Promise<TenantEntity> {
    const before = await this.dataSource.getRepository(TenantEntity).findOneBy({ id: tenantId });
    if (!before) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
    this.assertDeleted(before);
    if (before.placement !== 'instance')
      throw new TenantError(
        TenantErrorCode.CHANGE_REFUSED,
        `undeletes of ${before.placement} tenants are not made yet: ${before.slug}'s data was exported to S3 at its deletion ` +
          '(GET …/snapshots lists it) and is not re-imported into a host; only a tenant on an instance of its own is undeleted',
        undefined,
        { rule: 'undelete-not-supported', placement: before.placement },
      );
    await this.assertSlugFree(before);
    const plan = await this.plan(before);
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
    const secrets: UndeleteSecret[] = [];
    for (const name of [names.masterSecretName, names.appSecretName]) {
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
    const existing = await rds.describe(instance);
    if (existing)
      throw refused(
        existing.tags['silo:tenant-id'] === tenant.id ? 'instance-exists' : 'slug-reused',
        `an instance named ${instance} exists already (${existing.status}); ${tenant.slug} is restored into that name only`,
        { instance },
      );
    const ends = secrets
      .map((s) => s.deletionDate)
      .filter((d): d is string => d !== null)
      .sort()[0];
    return {
      placement: 'instance',
      region,
      finalSnapshot: snapshot.identifier,
      instanceIdentifier: instance,
      secrets,
      recoveryWindowEndsAt: ends ?? null,
    };
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
    return openChange(this.dataSource, before, ctx, 'an undelete', {
      kind: 'undelete',
      from: `snapshot ${plan.finalSnapshot}`.slice(0, 64),
      to: 'ACTIVE',
      apply: 'now',
      plan: { ...plan },
      event: {
        type: 'tenant.change_requested',
        message: `undelete of ${before.slug} from ${plan.finalSnapshot} requested`,
        data: {
          kind: 'undelete',
          finalSnapshot: plan.finalSnapshot,
          recoveryWindowEndsAt: plan.recoveryWindowEndsAt,
        },
      },
      assert: (tenant) => this.assertDeleted(tenant),
      stillValid: (tenant) => tenant.changeRun === before.changeRun,
      alreadyOpen: `${before.slug} is being undeleted already`,
    });
  }
}
