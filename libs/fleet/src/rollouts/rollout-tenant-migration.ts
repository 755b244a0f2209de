import { SchemaRolloutTenantEntity, TenantEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  tenantTags,
} from '@silo/core';
import { TenantMigrationError, type TenantMigrateResult } from '@silo/tenant-schema';
import type { DataSource, EntityManager } from 'typeorm';
import { SharedHostSteps } from '../placements/shared-host-steps';
import { backoffDelay } from '../saga/backoff';
import type { SagaOutcome } from '../saga/provisioning-saga';
import { ProvisioningSteps, type StepDeps } from '../saga/provisioning-steps';
import { passUnderTenantLock } from '../saga/tenant-pass';
import type { SagaContext, SagaLog, TenantRecord } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { advanceRollout, appendRolloutEvent, lockRollout } from './rollout-dispatch';

export interface RolloutTenantPass {
  outcome: SagaOutcome;
  /** Tenants this pass handed to the queue (through the outbox) after recording its own. */
  dispatched: number;
}

/** How a tenant's migration ended, as recorded on its rollout row. Never a host or credential. */
interface Ended {
  state: 'succeeded' | 'failed' | 'skipped';
  reached: string | null;
  failedMigration?: string | null;
  sqlState?: string | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  /** Why a skipped tenant was skipped. */
  skipReason?: string;
  applied?: string[];
}

/**
 * One tenant of a rollout, run by the worker's `migrate-tenant` job under the tenant's lock (the
 * one the sagas take, so nothing else touches the tenant meanwhile). It migrates the tenant to
 * the rollout's target, then records the outcome, the tenant's schema version and its audit
 * event, and advances the rollout, all in one transaction. A pass that dies before that
 * transaction is run again by BullMQ: the ledger says what was applied, so nothing is applied
 * twice and the record catches up.
 */
export class RolloutTenantMigration {
  constructor(
    private readonly dataSource: DataSource,
    private readonly deps: StepDeps,
    private readonly log: SagaLog,
  ) {}

  async run(
    rolloutId: string,
    tenantId: string,
    attempt: number,
    ctx: SagaContext,
  ): Promise<RolloutTenantPass> {
    let dispatched = 0;
    const outcome = await passUnderTenantLock(this.deps, tenantId, async (): Promise<SagaOutcome> => {
      const row = await this.dataSource
        .getRepository(SchemaRolloutTenantEntity)
        .findOneBy({ rolloutId, tenantId });
      // A dispatch superseded by a later one (or already recorded) has nothing left to do.
      if (!row || row.state !== 'running' || row.attempt !== attempt)
        return { kind: 'finished', status: 'ACTIVE' };
      const tenant = await this.deps.store.getTenant(tenantId);
      if (!tenant || (tenant.status !== 'ACTIVE' && tenant.status !== 'SUSPENDED')) {
        dispatched = await this.record(row, tenant, ctx, {
          state: 'skipped',
          reached: tenant?.database.schemaVersion ?? null,
          skipReason: `tenant is ${tenant?.status ?? 'gone'}`,
        });
        return { kind: 'finished', status: tenant?.status ?? 'MISSING' };
      }
      const [rollout] = await this.dataSource.query<{ target_version: string; status: string }[]>(
        'SELECT target_version, status FROM schema_rollouts WHERE id = $1',
        [rolloutId],
      );
      // Paused or aborted after this job was handed out: start nothing new; a resume dispatches it again.
      if (rollout?.status !== 'RUNNING') {
        await this.giveBack(row);
        return { kind: 'finished', status: tenant.status };
      }
      let result: TenantMigrateResult;
      try {
        result = await this.migrate(tenant, rollout.target_version, rolloutId, ctx);
      } catch (error) {
        if (!(error instanceof TenantMigrationError) && !(error instanceof ProvisioningError)) throw error;
        const failures = row.failures + 1;
        if (error.retryable && failures < this.deps.settings.stepMaxAttempts) {
          await this.dataSource
            .getRepository(SchemaRolloutTenantEntity)
            .update({ rolloutId, tenantId }, { failures });
          const { baseDelayMs, maxDelayMs } = this.deps.settings.retry;
          this.log.warn(
            { tenantId, rolloutId, code: error.code, failures },
            'tenant migration could not run; will retry',
          );
          return {
            kind: 'delay',
            delayMs: backoffDelay(failures, baseDelayMs, maxDelayMs),
            reason: 'tenant database unavailable',
          };
        }
        dispatched = await this.record(
          row,
          tenant,
          ctx,
          error instanceof TenantMigrationError
            ? {
                state: 'failed',
                reached: error.details.reached ?? tenant.database.schemaVersion,
                failedMigration: error.details.migration ?? null,
                sqlState: error.details.sqlState ?? null,
                errorCode: error.code,
                errorMessage: error.retryable
                  ? `${error.message} (after ${failures} attempts)`
                  : error.message,
              }
            : {
                // Nothing was applied: the failure came before the first migration ran.
                state: 'failed',
                reached: tenant.database.schemaVersion,
                errorCode: error.code,
                errorMessage: describe(error, failures),
              },
        );
        return { kind: 'finished', status: tenant.status };
      }
      dispatched = await this.record(row, tenant, ctx, {
        state: 'succeeded',
        reached: result.schemaVersion,
        applied: result.applied.map((a) => a.version),
      });
      return { kind: 'finished', status: tenant.status };
    });
    return { outcome, dispatched };
  }

  private async migrate(
    tenant: TenantRecord,
    target: string,
    rolloutId: string,
    ctx: SagaContext,
  ): Promise<TenantMigrateResult> {
    const { result, poolHostId } = await migrateTenantTarget(this.deps, tenant, { target, rolloutId, ctx });
    // The pool's version is its host's; a newer one recorded by another pass stays.
    if (poolHostId && result.schemaVersion !== null) {
      await this.dataSource.query(
        `UPDATE hosts SET schema_version = $2, updated_at = now()
          WHERE id = $1 AND (schema_version IS NULL OR schema_version::numeric < $2::numeric)`,
        [poolHostId, result.schemaVersion],
      );
    }
    return result;
  }

  /** A dispatched tenant back to pending, untouched, if it is still this dispatch's. */
  private async giveBack(row: SchemaRolloutTenantEntity): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await lockRollout(em, row.rolloutId);
      await em.update(
        SchemaRolloutTenantEntity,
        { rolloutId: row.rolloutId, tenantId: row.tenantId, state: 'running', attempt: row.attempt },
        { state: 'pending', startedAt: null, failures: 0 },
      );
    });
  }

  /** The outcome, the tenant's version and event, and the rollout's next step, in one transaction. */
  private record(
    row: SchemaRolloutTenantEntity,
    tenant: TenantRecord | null,
    ctx: SagaContext,
    ended: Ended,
  ): Promise<number> {
    return this.dataSource.transaction(async (em) => {
      const rollout = await lockRollout(em, row.rolloutId);
      const current = await em.findOneBy(SchemaRolloutTenantEntity, {
        rolloutId: row.rolloutId,
        tenantId: row.tenantId,
      });
      if (!rollout || current?.state !== 'running' || current.attempt !== row.attempt) return 0;
      await em.update(
        SchemaRolloutTenantEntity,
        { rolloutId: row.rolloutId, tenantId: row.tenantId },
        {
          state: ended.state,
          reachedVersion: ended.reached,
          failedMigration: ended.failedMigration?.slice(0, 255) ?? null,
          sqlState: ended.sqlState ?? null,
          errorCode: ended.errorCode ?? null,
          errorMessage: ended.errorMessage ?? null,
          ...(ended.state === 'skipped'
            ? { skippedBy: ctx.actor, skipReason: ended.skipReason ?? null }
            : {}),
          finishedAt: () => 'now()',
        },
      );
      if (ended.state === 'skipped') {
        await appendRolloutEvent(
          em,
          rollout.id,
          ctx,
          'rollout.tenant_skipped',
          `${tenant?.slug ?? row.tenantId} skipped: ${ended.skipReason}`,
          { tenantId: row.tenantId, reason: ended.skipReason },
        );
      } else if (tenant) {
        await this.recordOnTenant(em, tenant, rollout.id, rollout.targetVersion, ended, ctx);
      }
      return advanceRollout(em, rollout, ctx);
    });
  }

  private async recordOnTenant(
    em: EntityManager,
    tenant: TenantRecord,
    rolloutId: string,
    target: string,
    ended: Ended,
    ctx: SagaContext,
  ): Promise<void> {
    if (ended.reached !== tenant.database.schemaVersion) {
      await em.update(
        TenantEntity,
        { id: tenant.id },
        { schemaVersion: ended.reached, version: () => 'version + 1' },
      );
    }
    const from = tenant.database.schemaVersion;
    await appendTenantEvent(
      em,
      tenant.id,
      ended.state === 'succeeded'
        ? {
            type: 'schema.migrated',
            message: ended.applied?.length
              ? `schema migrated from ${from ?? 'none'} to ${ended.reached} (rollout ${rolloutId})`
              : `schema already at ${ended.reached} (rollout ${rolloutId})`,
            data: { rolloutId, from, to: ended.reached, applied: ended.applied ?? [] },
          }
        : {
            type: 'schema.migration_failed',
            message: `migration to ${target} failed at ${ended.failedMigration ?? 'connecting'}${ended.sqlState ? ` (SQLSTATE ${ended.sqlState})` : ''}: ${ended.errorMessage} (rollout ${rolloutId})`,
            data: {
              rolloutId,
              from,
              reached: ended.reached,
              migration: ended.failedMigration,
              sqlState: ended.sqlState,
              code: ended.errorCode,
            },
          },
      ctx,
    );
  }
}

/**
 * What an operator may read of a failure that is not a migration's: the error's class, never
 * the driver's message (it can name the host and port).
 */
function describe(error: ProvisioningError, attempts: number): string {
  switch (error.code) {
    case ProvisioningErrorCode.DATABASE_UNAVAILABLE:
      return `the tenant database did not answer after ${attempts} attempt(s)`;
    case ProvisioningErrorCode.DATABASE_REJECTED:
      return 'the tenant database refused the owner login or a statement before the migrations, or a TypeORM migration threw outside SQL';
    case ProvisioningErrorCode.AWS_UNAVAILABLE:
      return `Secrets Manager did not answer after ${attempts} attempt(s)`;
    default:
      return `${error.code}: the tenant's master secret or records could not be used`;
  }
}

/**
 * Migrates a tenant's migration target, which its placement decides: its own database (its
 * tenant set), its schema on its host, or its host's pool database (shared by every pooled
 * tenant of the host: the first of them a rollout reaches applies what is pending, the others
 * find it applied). `poolHostId` names the host whose pool database it was.
 */
export async function migrateTenantTarget(
  deps: StepDeps,
  tenant: TenantRecord,
  rollout: { target: string; rolloutId: string; ctx: SagaContext },
): Promise<{ result: TenantMigrateResult; poolHostId: string | null }> {
  const { settings, admin } = deps;
  const names = tenantResourceNames(settings.prefix, tenant.slug);
  const run = {
    tenant,
    names,
    profile: settings.tiers[tenant.tier],
    tags: tenantTags(tenant, settings.environment),
    ctx: rollout.ctx,
    secretValues: new Map(),
  };
  const options = {
    ...settings.migrationTimeouts,
    target: rollout.target,
    appliedBy: `rollout:${rollout.rolloutId}`,
    tenant: tenant.slug,
  };
  switch (tenant.placement) {
    case 'instance': {
      const steps = new ProvisioningSteps(deps);
      const result = await admin.runMigrations(
        steps.endpoint(tenant, names),
        await steps.owner(run),
        settings.migrations,
        {
          ...options,
          into: { placement: 'instance', schema: APP_SCHEMA, tenantId: tenant.id },
        },
      );
      return { result, poolHostId: null };
    }
    case 'schema': {
      const { endpoint, owner } = await new SharedHostSteps(deps, 'schema').hostAccess(run);
      const result = await admin.runMigrations(endpoint, owner, settings.migrations, {
        ...options,
        into: { placement: 'schema', schema: names.tenantSchema, tenantId: tenant.id },
      });
      return { result, poolHostId: null };
    }
    case 'pool': {
      const { host, endpoint, owner } = await new SharedHostSteps(deps, 'pool').hostAccess(run);
      const result = await admin.runMigrations(endpoint, owner, settings.migrations, {
        ...options,
        tenant: `${tenant.slug} (pool of host ${host.name})`,
        into: { placement: 'pool', schema: APP_SCHEMA },
      });
      return { result, poolHostId: host.id };
    }
  }
}
