import { TenantChangeEntity } from '@silo/control-plane-db';
import { APP_SCHEMA, tenantResourceNames } from '@silo/core';
import { appLoginRoles, releaseMovedSource } from '@silo/tenant-schema';
import type { DataSource } from 'typeorm';
import { pgEndpoint } from '../tenant-database-admin';
import type { SharedHostView } from '../placements/shared-hosts';
import type { SagaOutcome } from '../saga/provisioning-saga';
import type { StepDeps } from '../saga/provisioning-steps';
import { stepDepsInRegion } from '../saga/regional-deps';
import type { SagaContext, SagaLog } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { hostResourceNames } from '@silo/core';
import type { MovePlan } from './move-plan';

const WAIT_MS = 10_000;

/**
 * Removes a moved tenant's source once MOVE_SOURCE_RETENTION_HOURS have passed since the switch:
 * an instance with a final snapshot (where its tier kept backups) and its secrets scheduled for
 * deletion, a schema tenant's schema and logins, a pooled tenant's rows; then the source's move
 * guard and freeze. Until then the source holds the tenant's data as it was at the switch, frozen.
 * Idempotent: every part finds what an earlier pass did.
 */
export class MovedSourceRemoval {
  constructor(
    private readonly deps: StepDeps,
    private readonly dataSource: DataSource,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run(tenantId: string, run: number, ctx: SagaContext): Promise<SagaOutcome> {
    const change = await this.dataSource.getRepository(TenantChangeEntity).findOneBy({ tenantId, run });
    const plan = change?.plan as (MovePlan & { switched?: boolean; sourceRemoved?: boolean }) | undefined;
    if (!change || change.kind !== 'move' || !plan?.switched || plan.sourceRemoved)
      return { kind: 'finished', status: 'ACTIVE' };
    const due = plan.sourceRemovalDueAt ? Date.parse(plan.sourceRemovalDueAt) : 0;
    const left = due - this.now().getTime();
    if (left > 0)
      return { kind: 'delay', delayMs: left, reason: 'the source is kept until its retention ends' };

    const tenant = await this.deps.store.getTenant(tenantId);
    if (!tenant) return { kind: 'finished', status: 'MISSING' };
    // Never the place the tenant is served from (moves back wait for this removal, but a record
    // changed by hand must not cost the tenant its data).
    const livesThere =
      tenant.placement === plan.from.placement &&
      (tenant.region ?? this.deps.settings.defaultRegion) === plan.from.region &&
      (tenant.placement === 'instance' || tenant.hostId === plan.from.hostId);
    if (livesThere) {
      this.log.error({ tenantId, run }, "the moved source is the tenant's place again; left untouched");
      return { kind: 'finished', status: tenant.status };
    }
    const source = stepDepsInRegion(this.deps, plan.from.region);
    const names = tenantResourceNames(source.settings.prefix, tenant.slug);
    const done: Record<string, unknown> = {};
    if (plan.from.placement === 'instance') {
      const identifier = names.instanceIdentifier;
      const keepsBackups = source.settings.tiers[plan.from.tier].backupRetentionDays > 0;
      const finalSnapshotIdentifier = keepsBackups ? names.finalSnapshotIdentifier(this.now()) : undefined;
      if (finalSnapshotIdentifier && (await source.rds.describe(identifier))?.status === 'available')
        await source.host.snapshot({ identifier, snapshotIdentifier: finalSnapshotIdentifier });
      const outcome = await source.rds.delete(identifier, {
        ownerTenantId: tenantId,
        finalSnapshotIdentifier,
      });
      if (outcome === 'busy') return { kind: 'delay', delayMs: WAIT_MS, reason: 'source instance busy' };
      if (
        (outcome === 'deleting' || outcome === 'already-deleting') &&
        (await source.rds.describe(identifier))
      )
        return { kind: 'delay', delayMs: WAIT_MS, reason: 'source instance being deleted' };
      await source.host.remove({
        identifier,
        roles: [...appLoginRoles(names.appRole), names.appRole, names.masterUsername],
      });
      const window = { recoveryWindowDays: source.settings.secretRecoveryWindowDays };
      // The tenant's own secret names in the source's region are its live ones when it moved to an instance there.
      const stillLive = plan.to.region === plan.from.region && plan.to.placement !== 'pool';
      if (!stillLive) await source.secrets.delete(names.appSecretName, window, tenantId);
      await source.secrets.delete(names.masterSecretName, window, tenantId);
      Object.assign(done, { instance: identifier, finalSnapshotIdentifier: finalSnapshotIdentifier ?? null });
    } else {
      const host = plan.from.hostId ? await source.hosts.host(plan.from.hostId) : null;
      if (host && host.status === 'available') {
        const { endpoint, owner } = await this.hostAccess(source, host);
        if (plan.from.placement === 'schema') {
          await source.admin.dropTenantSchema(endpoint, owner, {
            schema: names.tenantSchema,
            role: names.appRole,
          });
          const stillLive = plan.to.region === plan.from.region && plan.to.placement !== 'pool';
          if (!stillLive)
            await source.secrets.delete(
              names.appSecretName,
              { recoveryWindowDays: source.settings.secretRecoveryWindowDays },
              tenantId,
            );
        }
        // The guard goes before the rows: it refuses every write of the tenant there, deletes too.
        const login = source.host.replicationLogin(host.instanceIdentifier) ?? owner;
        await releaseMovedSource({
          moveId: moveIdOf(tenantId, run),
          tenantId,
          source: {
            endpoint: pgEndpoint(endpoint, login),
            placement: plan.from.placement,
            schema: plan.from.placement === 'schema' ? names.tenantSchema : APP_SCHEMA,
          },
          target: {
            endpoint: pgEndpoint(endpoint, login),
            placement: plan.to.placement === 'pool' ? 'pool' : 'instance',
            schema: APP_SCHEMA,
          },
        });
        if (plan.from.placement === 'pool') {
          const deleted = await source.admin.deleteTenantRows(endpoint, owner, { tenantId });
          done.rowsDeleted = Object.values(deleted.rows).reduce((sum, n) => sum + n, 0);
        }
        done.host = host.name;
      } else {
        done.skipped = 'the source host is gone';
      }
    }
    await this.dataSource.transaction(async (em) => {
      await em.query(
        `UPDATE tenant_changes SET plan = plan || '{"sourceRemoved": true}'::jsonb, updated_at = now() WHERE tenant_id = $1 AND run = $2`,
        [tenantId, run],
      );
      await appendTenantEvent(
        em,
        tenantId,
        {
          type: 'tenant.move_source_removed',
          message: `the source of move ${run} is removed`,
          data: { run, ...done },
        },
        ctx,
      );
    });
    this.log.warn({ tenantId, run, ...done }, 'moved source removed');
    return { kind: 'finished', status: tenant.status };
  }

  private async hostAccess(deps: StepDeps, host: SharedHostView) {
    const endpoint = deps.host.endpointOf({
      identifier: host.instanceIdentifier,
      rdsEndpoint: host.endpoint,
    });
    const secret = await deps.secrets.read(
      hostResourceNames(deps.settings.prefix, host.name).masterSecretName,
    );
    const username = typeof secret?.username === 'string' ? secret.username : '';
    const password = typeof secret?.password === 'string' ? secret.password : '';
    return { endpoint, owner: { username, password } };
  }
}

/** The move id MoveSaga names the replication objects after: the change run over the tenant id. */
export function moveIdOf(tenantId: string, run: number): string {
  const hex = tenantId.replace(/-/g, '');
  const id = `${run.toString(16).padStart(8, '0')}${hex.slice(8)}`;
  return `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
}
