import { SchemaRolloutTenantEntity, TenantEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  tenantTags,
} from '@silo/core';
import { TenantMigrationError, type TenantMigrateResult } from '@silo/tenant-schema';
import { In, type DataSource, type EntityManager } from 'typeorm';
import { SharedHostSteps } from '../placements/shared-host-steps';
import { backoffDelay } from '../saga/backoff';
import type { SagaOutcome } from '../saga/provisioning-saga';
import { ProvisioningSteps, type StepDeps } from '../saga/provisioning-steps';
import { regionOf, stepDepsInRegion } from '../saga/regional-deps';
import { passUnderTenantLock } from '../saga/tenant-pass';
import type { SagaContext, SagaLog, TenantRecord } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { advanceRollout, appendRolloutEvent, lockRollout } from './rollout-dispatch';

export interface RolloutTenantPass {
  outcome: SagaOutcome;
  /** Targets this pass handed to the queue (through the outbox) after recording its own. */
  dispatched: number;
}

/** What one rollout job migrates: a tenant's own database or schema, or a host's pool database. */
export type RolloutTarget = { tenantId: string } | { poolHostId: string };

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

/** One tenant of the target, with how it ended (null until it has). */
interface Member {
  row: SchemaRolloutTenantEntity;
  tenant: TenantRecord | null;
}

const isMigratable = (tenant: TenantRecord | null): tenant is TenantRecord =>
  tenant !== null && (tenant.status === 'ACTIVE' || tenant.status === 'SUSPENDED');

/**
 * One migration target of a rollout, run by the worker's `migrate-tenant` job (a tenant's own
 * database or schema, under the tenant's lock, the one the sagas take, so nothing else touches
 * the tenant meanwhile) or `migrate-pool` job (a host's pool database, for every pooled tenant of
 * the host that the rollout dispatched with it; the migrator's lock in the pool database keeps
 * two runs apart). It migrates the target to the rollout's version, then records the outcome
 * on each of the target's tenants, their schema version and audit events, and advances the
 * rollout, all in one transaction. A pass that dies before that transaction is run again by
 * BullMQ: the ledger says what was applied, so nothing is applied twice and the record catches up.
 */
export class RolloutTenantMigration {
  constructor(
    private readonly dataSource: DataSource,
    private readonly deps: StepDeps,
    private readonly log: SagaLog,
  ) {}

  async run(
    rolloutId: string,
    target: RolloutTarget,
    attempt: number,
    ctx: SagaContext,
  ): Promise<RolloutTenantPass> {
    let dispatched = 0;
    const pass = async (): Promise<SagaOutcome> => {
      const rows = await this.dataSource.getRepository(SchemaRolloutTenantEntity).find({
        where:
          'tenantId' in target
            ? { rolloutId, tenantId: target.tenantId, state: 'running', attempt }
            : { rolloutId, poolHostId: target.poolHostId, state: 'running', attempt },
        order: { position: 'ASC' },
      });
      // A dispatch superseded by a later one (or already recorded) has nothing left to do.
      if (!rows.length) return { kind: 'finished', status: 'ACTIVE' };
      const members: Member[] = [];
      for (const row of rows) members.push({ row, tenant: await this.deps.store.getTenant(row.tenantId) });
      const live = members.filter((m) => isMigratable(m.tenant));
      const gone = members.filter((m) => !isMigratable(m.tenant));
      const skippedGone = (m: Member): [Member, Ended] => [
        m,
        {
          state: 'skipped',
          reached: m.tenant?.database.schemaVersion ?? null,
          skipReason: `tenant is ${m.tenant?.status ?? 'gone'}`,
        },
      ];
      const lead = live[0]?.tenant;
      if (!lead) {
        dispatched = await this.record(rolloutId, target, attempt, gone.map(skippedGone), ctx);
        return { kind: 'finished', status: members[0].tenant?.status ?? 'MISSING' };
      }
      const [rollout] = await this.dataSource.query<{ target_version: string; status: string }[]>(
        'SELECT target_version, status FROM schema_rollouts WHERE id = $1',
        [rolloutId],
      );
      // Paused or aborted after this job was handed out: start nothing new; a resume dispatches it again.
      if (rollout?.status !== 'RUNNING') {
        await this.giveBack(rolloutId, rows);
        return { kind: 'finished', status: lead.status };
      }
      // A move copies the tenant's tables as they are: a migration of its source or its target
      // pool meanwhile would change them under the copy. The rollout waits for the move to end.
      const moving = await this.dataSource.query<Array<{ slug: string }>>(
        `SELECT t.slug FROM tenant_changes c JOIN tenants t ON t.id = c.tenant_id
          WHERE c.kind = 'move' AND c.status = 'RUNNING'
            AND (c.tenant_id = ANY($1) OR c.plan->'from'->>'hostId' = $2 OR c.plan->'to'->>'hostId' = $2)
          LIMIT 1`,
        [rows.map((r) => r.tenantId), 'poolHostId' in target ? target.poolHostId : null],
      );
      if (moving.length > 0) {
        const { maxDelayMs } = this.deps.settings.wait;
        return { kind: 'delay', delayMs: maxDelayMs, reason: `tenant ${moving[0].slug} is moving` };
      }
      let result: TenantMigrateResult;
      try {
        result = await this.migrate(lead, target, rollout.target_version, rolloutId, ctx);
      } catch (error) {
        if (!(error instanceof TenantMigrationError) && !(error instanceof ProvisioningError)) throw error;
        const failures = rows[0].failures + 1;
        if (error.retryable && failures < this.deps.settings.stepMaxAttempts) {
          await this.dataSource
            .getRepository(SchemaRolloutTenantEntity)
            .update({ rolloutId, tenantId: In(rows.map((r) => r.tenantId)), attempt }, { failures });
          const { baseDelayMs, maxDelayMs } = this.deps.settings.retry;
          this.log.warn(
            { tenantId: lead.id, rolloutId, ...target, code: error.code, failures },
            'tenant migration could not run; will retry',
          );
          return {
            kind: 'delay',
            delayMs: backoffDelay(failures, baseDelayMs, maxDelayMs),
            reason: 'tenant database unavailable',
          };
        }
        const failed = (tenant: TenantRecord): Ended =>
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
              };
        dispatched = await this.record(
          rolloutId,
          target,
          attempt,
          [...live.map((m): [Member, Ended] => [m, failed(m.tenant!)]), ...gone.map(skippedGone)],
          ctx,
        );
        return { kind: 'finished', status: lead.status };
      }
      const succeeded: Ended = {
        state: 'succeeded',
        reached: result.schemaVersion,
        applied: result.applied.map((a) => a.version),
      };
      dispatched = await this.record(
        rolloutId,
        target,
        attempt,
        [...live.map((m): [Member, Ended] => [m, succeeded]), ...gone.map(skippedGone)],
        ctx,
      );
      return { kind: 'finished', status: lead.status };
    };
    const outcome =
      'tenantId' in target ? await passUnderTenantLock(this.deps, target.tenantId, pass) : await pass();
    return { outcome, dispatched };
  }

  /** Migrates the target: `tenant` is the tenant, or for a pool any live tenant of the pool. */
  private async migrate(
    tenant: TenantRecord,
    target: RolloutTarget,
    version: string,
    rolloutId: string,
    ctx: SagaContext,
  ): Promise<TenantMigrateResult> {
    if ('poolHostId' in target && (tenant.placement !== 'pool' || tenant.hostId !== target.poolHostId)) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `tenant ${tenant.slug} is no longer pooled on host ${target.poolHostId}`,
      );
    }
    const { result } = await migrateTenantTarget(this.deps, tenant, { target: version, rolloutId, ctx });
    return result;
  }

  /** The target's dispatched tenants back to pending, untouched, if they are still this dispatch's. */
  private async giveBack(rolloutId: string, rows: SchemaRolloutTenantEntity[]): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await lockRollout(em, rolloutId);
      await em.update(
        SchemaRolloutTenantEntity,
        { rolloutId, tenantId: In(rows.map((r) => r.tenantId)), state: 'running', attempt: rows[0].attempt },
        { state: 'pending', startedAt: null, failures: 0 },
      );
    });
  }

  /**
   * The outcome of each of the target's tenants, their versions and events, a pool host's
   * version, and the rollout's next step, in one transaction.
   */
  private record(
    rolloutId: string,
    target: RolloutTarget,
    attempt: number,
    outcomes: [Member, Ended][],
    ctx: SagaContext,
  ): Promise<number> {
    return this.dataSource.transaction(async (em) => {
      const rollout = await lockRollout(em, rolloutId);
      if (!rollout) return 0;
      const still = new Set(
        (
          await em.find(SchemaRolloutTenantEntity, {
            select: { tenantId: true },
            where: {
              rolloutId,
              tenantId: In(outcomes.map(([m]) => m.row.tenantId)),
              state: 'running',
              attempt,
            },
          })
        ).map((r) => r.tenantId),
      );
      if (!still.size) return 0;
      for (const [{ row, tenant }, ended] of outcomes) {
        if (!still.has(row.tenantId)) continue;
        await em.update(
          SchemaRolloutTenantEntity,
          { rolloutId, tenantId: row.tenantId },
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
      }
      const reached = outcomes.find(([, e]) => e.state !== 'skipped')?.[1].reached;
      if ('poolHostId' in target && reached) await recordPoolVersion(em, target.poolHostId, reached);
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
 * A pool database's version is its host's, and that of every tenant pooled on it (those the
 * rollout did not list too: onboarded since it started, or outside its tiers). A newer version
 * recorded by another pass stays.
 */
const BEHIND = `CASE WHEN schema_version ~ '^\\d{1,18}$' THEN schema_version::numeric < $2::text::numeric ELSE true END`;

async function recordPoolVersion(em: EntityManager, hostId: string, version: string): Promise<void> {
  await em.query(
    `UPDATE hosts SET schema_version = $2::text, updated_at = now()
      WHERE id = $1 AND ${BEHIND}`,
    [hostId, version],
  );
  await em.query(
    `UPDATE tenants SET schema_version = $2::text, version = version + 1
      WHERE host_id = $1 AND placement = 'pool' AND status IN ('ACTIVE', 'SUSPENDED')
        AND ${BEHIND}`,
    [hostId, version],
  );
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
  // The tenant's database and secrets are in its region.
  deps = stepDepsInRegion(deps, regionOf(tenant, deps.settings));
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
