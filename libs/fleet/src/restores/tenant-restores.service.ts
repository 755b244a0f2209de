import { Inject, Injectable } from '@nestjs/common';
import { RdsInstances } from '@silo/aws';
import { HostEntity, TenantEntity, TenantRestoreCopyEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  hostResourceNames,
  restoreCopyNames,
  tenantResourceNames,
  TenantError,
  TenantErrorCode,
} from '@silo/core';
import { DataSource } from 'typeorm';
import { TENANT_DATABASE_HOST, type TenantDatabaseHost } from '../backends/tenant-database-host';
import { openChange } from '../changes/tenant-changes.service';
import { removeRestoreCopyNow } from './restore-copy-removal';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import type { SagaContext } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import {
  RESTORE_MODES,
  sourceLabel,
  type RestoreMode,
  type RestorePlan,
  type RestoreRequestedSource,
} from './restore-plan';

/** What `POST /v1/tenants/{id}/restores` asks. */
export interface RestoreRequest {
  source: { pointInTime: string } | { snapshot: string } | { latest: true };
  mode: RestoreMode;
  /**
   * In place: once switched, start a rollout of the tenant to the newest migration when the
   * restored data is behind it. Refused for a copy (`rollout-needs-replace`).
   */
  rollout?: boolean;
}

function refused(rule: string, message: string, detail: Record<string, string> = {}): TenantError {
  return new TenantError(TenantErrorCode.CHANGE_REFUSED, message, undefined, { rule, ...detail });
}

/**
 * Starts restores of tenants (a change of kind `restore`, run by the worker's RestoreSaga) and
 * removes their copies on request. A restore Silo cannot make is refused with 422 naming the
 * rule, and nothing is recorded.
 */
@Injectable()
export class TenantRestores {
  constructor(
    private readonly dataSource: DataSource,
    private readonly settings: ProvisioningSettings,
    private readonly rds: RdsInstances,
    @Inject(TENANT_DATABASE_HOST) private readonly host: TenantDatabaseHost,
  ) {}

  /**
   * Plans the restore of `tenantId` and records it. Refused (422, `rule`): a mode or placement Silo
   * does not restore yet (`restore-not-supported`), a tier that keeps no backups (`no-backups`),
   * a point in time outside the instance's restorable window (`outside-restore-window`, with
   * `earliest` and `latest`), a snapshot that is not of this tenant's instance (`snapshot-unknown`)
   * or not available yet (`snapshot-not-ready`); 409 while the tenant is mid-change, as every change.
   */
  async requestRestore(tenantId: string, request: RestoreRequest, ctx: SagaContext): Promise<TenantEntity> {
    const before = await this.dataSource.getRepository(TenantEntity).findOneBy({ id: tenantId });
    if (!before) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
    if (!RESTORE_MODES.includes(request.mode))
      throw refused('mode-unknown', `${JSON.stringify(request.mode)} is not a restore mode (copy, replace)`);
    if (request.rollout && request.mode !== 'replace')
      throw refused(
        'rollout-needs-replace',
        'rollout is for a restore in place: a copy is never migrated (it holds the data as it was)',
        { mode: request.mode },
      );
    const shared = before.placement !== 'instance';
    if (shared && 'snapshot' in request.source)
      throw refused(
        'restore-not-supported',
        `a ${before.placement} tenant's snapshots are its host's: restore it to a point in time (or the latest)`,
        { placement: before.placement },
      );
    // A shared tenant is restored from its host's instance (its backups are the host's).
    const host =
      shared && before.hostId
        ? await this.dataSource.getRepository(HostEntity).findOneBy({ id: before.hostId })
        : null;
    const region = host?.region ?? before.region ?? this.settings.defaultRegion;
    const profile = this.settings.tiers[before.tier];
    const instance = shared ? (host?.instanceIdentifier ?? null) : before.dbInstanceIdentifier;
    if (!instance)
      throw refused(
        'no-backups',
        `${before.slug} has no ${shared ? 'host' : 'instance'} recorded: there is nothing to restore from`,
      );
    let restoreTime: Date;
    let source: RestoreRequestedSource;
    if ('snapshot' in request.source) {
      const id = request.source.snapshot;
      const snapshot = typeof id === 'string' && id ? await this.rds.inRegion(region).snapshot(id) : null;
      // Only a snapshot of this tenant's instance, tagged as the tenant's (a final one of an earlier life included).
      if (
        !snapshot ||
        snapshot.tags['silo:tenant-id'] !== before.id ||
        snapshot.instanceIdentifier !== instance
      )
        throw refused(
          'snapshot-unknown',
          `${JSON.stringify(id)} is not a snapshot of ${before.slug}'s instance`,
          {
            snapshot: String(id),
          },
        );
      if (snapshot.status !== 'available' || !snapshot.createdAt)
        throw refused(
          'snapshot-not-ready',
          `snapshot ${id} is ${snapshot.status}; restore from it once it is available`,
        );
      restoreTime = snapshot.createdAt;
      source = { snapshot: id };
    } else if (profile.backupRetentionDays === 0) {
      throw refused(
        'no-backups',
        `${before.slug}'s tier (${before.tier}) keeps no backups of its instance: there is nothing to restore from`,
      );
    } else if ('pointInTime' in request.source) {
      restoreTime = new Date(request.source.pointInTime);
      if (Number.isNaN(restoreTime.getTime()))
        throw refused('point-in-time-invalid', `${JSON.stringify(request.source.pointInTime)} is not a time`);
      const window = await this.restorableWindow(before, instance, region);
      if (restoreTime < window.earliest || restoreTime > window.latest)
        throw refused(
          'outside-restore-window',
          `${restoreTime.toISOString()} is outside ${before.slug}'s restorable window: ${window.earliest.toISOString()} to ${window.latest.toISOString()}`,
          { earliest: window.earliest.toISOString(), latest: window.latest.toISOString() },
        );
      source = { pointInTime: restoreTime.toISOString() };
    } else {
      restoreTime = (await this.restorableWindow(before, instance, region)).latest;
      source = { latest: true };
    }
    const run = before.changeRun + 1;
    const names = restoreCopyNames(this.settings.prefix, before.slug, run);
    // RDS identifiers and PostgreSQL names stop at 63 characters; a long prefix and slug and a
    // high change run can reach that.
    const tooLong = [
      names.instanceIdentifier,
      ...(request.mode === 'replace' && !shared ? [names.incomingIdentifier] : []),
      names.readerRole,
      names.localOwner,
    ].find((n) => n.length > 63);
    if (tooLong)
      throw refused(
        'names-too-long',
        `${before.slug}'s restore copy ${run} would be named ${tooLong}, longer than the 63 characters RDS and PostgreSQL allow`,
      );
    const regionalHost = this.host.inRegion?.(region) ?? this.host;
    const plan: RestorePlan = {
      mode: request.mode,
      source,
      restoreTime: restoreTime.toISOString(),
      sourceInstance: instance,
      region,
      copy: {
        instanceIdentifier: names.instanceIdentifier,
        masterSecretName: names.masterSecretName,
        readerSecretName: names.readerSecretName,
        readerRole: names.readerRole,
        // RDS keeps the source's master user; the local backend's roles are its server's, so a copy owns its own.
        masterUsername:
          regionalHost.kind === 'local'
            ? names.localOwner
            : host
              ? hostResourceNames(this.settings.prefix, host.name).masterUsername
              : tenantResourceNames(this.settings.prefix, before.slug).masterUsername,
      },
      // In place an instance tenant's restored instance takes its name; a shared tenant's data is swapped.
      incomingInstance: request.mode === 'replace' && !shared ? names.incomingIdentifier : null,
      placement: before.placement,
      hostName: host?.name ?? null,
      // What the copy keeps of its host's data: the tenant's schema, or its rows of a pool's tables.
      schema:
        before.placement === 'schema'
          ? tenantResourceNames(this.settings.prefix, before.slug).tenantSchema
          : APP_SCHEMA,
      ...(request.rollout && { rollout: true }),
      expiresAt: null,
    };
    const how = request.mode === 'replace' ? 'in place' : 'as a copy';
    return openChange(this.dataSource, before, ctx, 'a restore', {
      kind: 'restore',
      from: sourceLabel(source, plan.restoreTime),
      to: request.mode === 'replace' ? 'in place' : 'copy',
      apply: 'now',
      plan: { ...plan },
      event: {
        type: 'tenant.change_requested',
        message: `restore as of ${plan.restoreTime} (${how}) requested`,
        data: { kind: 'restore', mode: request.mode, source: { ...source }, restoreTime: plan.restoreTime },
      },
      // The plan names the copy after the change's run: another change meanwhile is a new plan.
      stillValid: (tenant) => tenant.changeRun === before.changeRun && tenant.placement === before.placement,
    });
  }

  private async restorableWindow(tenant: TenantEntity, instance: string, region: string) {
    const window = await this.rds.inRegion(region).restorableWindow(instance);
    if (!window)
      throw refused('no-backups', `${tenant.slug}'s instance ${instance} has no restorable backups (yet)`);
    return window;
  }

  /** The tenant's restore copies, newest first (removed ones too). */
  async copies(tenantId: string): Promise<TenantRestoreCopyEntity[]> {
    return this.dataSource.getRepository(TenantRestoreCopyEntity).find({
      where: { tenantId },
      order: { run: 'DESC' },
    });
  }

  /** Removes a copy now rather than at its expiry: it is due at once, and its removal job runs. */
  async removeCopy(tenantId: string, run: number, ctx: SagaContext): Promise<TenantRestoreCopyEntity> {
    return this.dataSource.transaction(async (em) => {
      const copy = await em
        .getRepository(TenantRestoreCopyEntity)
        .findOne({ where: { tenantId, run }, lock: { mode: 'pessimistic_write' } });
      if (!copy)
        throw new TenantError(
          TenantErrorCode.TENANT_NOT_FOUND,
          `tenant ${tenantId} has no restore copy ${run}`,
        );
      if (copy.status !== 'AVAILABLE') return copy;
      await removeRestoreCopyNow(em, tenantId, run);
      await appendTenantEvent(
        em,
        tenantId,
        {
          type: 'tenant.restore_copy_removal_requested',
          message: `restore copy ${run} removal requested`,
          data: { run },
        },
        ctx,
      );
      return em.getRepository(TenantRestoreCopyEntity).findOneByOrFail({ tenantId, run });
    });
  }
}
