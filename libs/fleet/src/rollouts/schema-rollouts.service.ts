import { Injectable } from '@nestjs/common';
import {
  SchemaRolloutEntity,
  SchemaRolloutEventEntity,
  SchemaRolloutTenantEntity,
  TenantEntity,
  type RolloutStatus,
} from '@silo/control-plane-db';
import { RolloutError, RolloutErrorCode, type TierName } from '@silo/core';
import { findMigration, versionOrder } from '@silo/tenant-schema';
import { DataSource, In, type EntityManager } from 'typeorm';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import type { SagaContext } from '../store/provisioning-store';
import { isUniqueViolation } from '../store/unique-violation';
import { advanceRollout, appendRolloutEvent, lockRollout, setStatus, stateCounts } from './rollout-dispatch';
import { planRollout } from './rollout-plan';
import {
  excludedTenants,
  SKIPPED_AT_TARGET,
  SKIPPED_EXCLUDED,
  SKIPPED_WITH_POOL,
  skipRolloutTenant,
} from './rollout-skips';

/** A rollout as asked for; shape and ranges are checked by the caller (the API's schema). */
export interface NewRollout {
  /** Default the newest migration. */
  targetVersion?: string;
  canary: number;
  /** Cumulative percentages, increasing, the last 100. */
  waves: number[];
  maxConcurrency: number;
  failureThreshold: number;
  pauseBetweenWaves: boolean;
  /** Default every tier. */
  tiers?: TierName[];
  /** Tenants (ids or slugs) the rollout leaves alone: recorded as skipped, in no wave. */
  exclude?: string[];
  /** Only these tenants (ids), as a restore in place starts one for its tenant; default every tenant in `tiers`. */
  tenants?: string[];
}

/** How many tenants a rollout event lists by name; the rollout's tenants list them all. */
const EVENT_LIST_LIMIT = 100;

/**
 * -1, 0 or 1 as a tenant's recorded version is below, at or above `target`. A version that is
 * not a number (recorded by something else) counts as below: the ledger decides what applies.
 */
function versusTarget(version: string | null, target: string): number {
  const at = version === null ? undefined : versionOrder(version);
  const goal = versionOrder(target)!;
  if (at === undefined) return -1;
  return at < goal ? -1 : at > goal ? 1 : 0;
}

/** Tenants with a database: the ones a rollout migrates and the schema versions count. */
const MIGRATABLE = ['ACTIVE', 'SUSPENDED'] as const;

export interface RolloutDetail {
  rollout: SchemaRolloutEntity;
  counts: Awaited<ReturnType<typeof stateCounts>>;
  tenants: (SchemaRolloutTenantEntity & { slug: string })[];
  events: SchemaRolloutEventEntity[];
}

/**
 * Starting, steering and reading schema rollouts. Every change is one transaction under the
 * rollout's row lock, with its audit line and, where tenants start, their jobs in the outbox:
 * no migration runs inside a request.
 */
@Injectable()
export class SchemaRollouts {
  constructor(
    private readonly dataSource: DataSource,
    private readonly settings: ProvisioningSettings,
  ) {}

  /**
   * Plans and starts a rollout of every ACTIVE and SUSPENDED tenant (of `tiers`) below the
   * target, in waves of migration targets (a pooled tenant's is its host's pool database, shared
   * with the host's other pooled tenants). Those already at or past it, and those `exclude` names
   * (with the other tenants of a named pooled tenant's pool), are recorded as skipped (in no
   * wave). INVALID_TARGET_VERSION for a target that is not a version of the migrations;
   * UNKNOWN_EXCLUDED_TENANTS when `exclude` names no tenant; ROLLOUT_ALREADY_OPEN while another
   * one is RUNNING or PAUSED.
   */
  async start(input: NewRollout, ctx: SagaContext): Promise<RolloutDetail> {
    const id = await this.dataSource
      .transaction((em) => this.startIn(em, input, ctx))
      .catch(rethrowOpenConflict);
    return this.get(id);
  }

  /** {@link start} in the caller's transaction; the new rollout's id. */
  async startIn(em: EntityManager, input: NewRollout, ctx: SagaContext): Promise<string> {
    const set = this.settings.migrations;
    const target =
      input.targetVersion === undefined
        ? set.migrations[set.migrations.length - 1]
        : findMigration(set, input.targetVersion);
    if (!target) {
      throw new RolloutError(
        RolloutErrorCode.INVALID_TARGET_VERSION,
        `targetVersion ${input.targetVersion} is not a version of the tenant migrations (known: ${set.migrations.map((m) => m.version).join(', ')})`,
        { errors: [{ field: 'targetVersion', message: 'is not a known migration version' }] },
      );
    }
    const open = await em
      .getRepository(SchemaRolloutEntity)
      .findOne({ where: { status: In(['RUNNING', 'PAUSED']) } });
    if (open) throw alreadyOpen(open.id, open.status);
    const scope = await em.getRepository(TenantEntity).find({
      select: {
        id: true,
        slug: true,
        tier: true,
        createdAt: true,
        schemaVersion: true,
        placement: true,
        hostId: true,
      },
      where: {
        status: In([...MIGRATABLE]),
        ...(input.tiers ? { tier: In(input.tiers) } : {}),
        ...(input.tenants ? { id: In(input.tenants) } : {}),
      },
    });
    const poolHost = (t: TenantEntity) => (t.placement === 'pool' ? t.hostId : null);
    const excluded = await excludedTenants(em, input.exclude ?? []);
    // A pool database migrates for all its tenants at once: naming one of them leaves the
    // whole pool alone.
    const excludedPools = new Set(
      scope.filter((t) => excluded.has(t.id) && poolHost(t)).map((t) => poolHost(t)!),
    );
    // Rollouts never migrate down: a tenant at or past the target has nothing to do.
    const skips = new Map<string, string>();
    for (const t of scope) {
      if (excluded.has(t.id)) skips.set(t.id, SKIPPED_EXCLUDED);
      else if (excludedPools.has(poolHost(t) ?? '')) skips.set(t.id, SKIPPED_WITH_POOL);
      else if (versusTarget(t.schemaVersion, target.version) >= 0) skips.set(t.id, SKIPPED_AT_TARGET);
    }
    const eligible = scope.filter((t) => !skips.has(t.id));
    const skipped = scope.filter((t) => skips.has(t.id));
    const plan = planRollout(
      eligible.map((t) => ({ ...t, target: poolHost(t) ? `pool:${poolHost(t)}` : undefined })),
      input.canary,
      input.waves,
    );
    const hostOf = new Map(scope.map((t) => [t.id, poolHost(t)]));
    const rollouts = em.getRepository(SchemaRolloutEntity);
    const rollout = await rollouts.save(
      rollouts.create({
        status: 'RUNNING',
        targetVersion: target.version,
        canary: input.canary,
        wavePercents: input.waves,
        plan: plan.waves,
        maxConcurrency: input.maxConcurrency,
        failureThreshold: input.failureThreshold,
        pauseBetweenWaves: input.pauseBetweenWaves,
        tiers: input.tiers ?? null,
        createdBy: ctx.actor,
      }),
    );
    const versions = new Map(scope.map((t) => [t.id, t.schemaVersion]));
    const targets = plan.waves.reduce((n, w) => n + w.targets, 0);
    const rows: Partial<SchemaRolloutTenantEntity>[] = plan.tenants.map((t) => ({
      rolloutId: rollout.id,
      tenantId: t.tenantId,
      wave: t.wave,
      position: t.position,
      state: 'pending' as const,
      fromVersion: versions.get(t.tenantId) ?? null,
      poolHostId: hostOf.get(t.tenantId) ?? null,
    }));
    skipped.forEach((t, i) =>
      rows.push({
        rolloutId: rollout.id,
        tenantId: t.id,
        wave: null,
        position: plan.tenants.length + i,
        state: 'skipped',
        fromVersion: t.schemaVersion,
        reachedVersion: t.schemaVersion,
        skippedBy: ctx.actor,
        skipReason: skips.get(t.id)!,
        finishedAt: new Date(),
        poolHostId: poolHost(t),
      }),
    );
    for (let i = 0; i < rows.length; i += 500)
      await em.insert(SchemaRolloutTenantEntity, rows.slice(i, i + 500));
    await appendRolloutEvent(
      em,
      rollout.id,
      ctx,
      'rollout.started',
      `rollout to ${target.version} started: ${plan.tenants.length} tenant(s)${
        targets === plan.tenants.length ? '' : ` (${targets} migration target(s))`
      } in ${plan.waves.length} wave(s)${skipped.length ? `, ${skipped.length} skipped` : ''}`,
      {
        targetVersion: target.version,
        tenants: plan.tenants.length,
        targets,
        waves: plan.waves.map((w) => w.size),
        skipped: skipped.length,
      },
    );
    for (const reason of [SKIPPED_EXCLUDED, SKIPPED_WITH_POOL, SKIPPED_AT_TARGET]) {
      const these = skipped.filter((t) => skips.get(t.id) === reason);
      if (!these.length) continue;
      const named = these.slice(0, EVENT_LIST_LIMIT).map((t) => t.slug);
      await appendRolloutEvent(
        em,
        rollout.id,
        ctx,
        'rollout.tenants_skipped',
        `${these.length} tenant(s) skipped, ${reason}: ${named.join(', ')}${these.length > named.length ? ', …' : ''}`,
        { reason, count: these.length, tenants: named },
      );
    }
    await advanceRollout(em, rollout, ctx);
    return rollout.id;
  }

  /** RUNNING → PAUSED: migrations already running finish; nothing new starts. */
  pause(id: string, ctx: SagaContext): Promise<RolloutDetail> {
    return this.steer(id, 'pause', ['RUNNING'], async (em, rollout) => {
      await setStatus(em, rollout, 'PAUSED', ctx, {
        pauseKind: 'operator',
        reason: `paused by ${ctx.actor}`,
        event: 'rollout.paused',
      });
    });
  }

  /**
   * PAUSED or FAILED → RUNNING. Failed tenants go back to pending and are dispatched first; after
   * an approval gate, the next wave may start.
   */
  resume(id: string, ctx: SagaContext): Promise<RolloutDetail> {
    return this.steer(id, 'resume', ['PAUSED', 'FAILED'], async (em, rollout) => {
      const open = await em
        .getRepository(SchemaRolloutEntity)
        .findOne({ where: { status: In(['RUNNING', 'PAUSED']) } });
      if (open && open.id !== rollout.id) throw alreadyOpen(open.id, open.status);
      const retried = await em.update(
        SchemaRolloutTenantEntity,
        { rolloutId: rollout.id, state: 'failed' },
        { state: 'pending', failures: 0 },
      );
      // A tenant still marked running may have lost its job (a Redis flush, a job stalled too
      // often): dispatch it again. Its old job, if it still runs, finds a newer dispatch and
      // records nothing; the tenant lock and the ledger keep the migrations applied once.
      await em.update(
        SchemaRolloutTenantEntity,
        { rolloutId: rollout.id, state: 'running' },
        { state: 'pending', failures: 0 },
      );
      if (rollout.pauseKind === 'approval') {
        rollout.approvedWave = rollout.currentWave + 1;
        await em.update(SchemaRolloutEntity, { id: rollout.id }, { approvedWave: rollout.approvedWave });
      }
      const from = rollout.status;
      await setStatus(em, rollout, 'RUNNING', ctx, {
        reason: null,
        event: 'rollout.resumed',
        message: `resumed by ${ctx.actor}${retried.affected ? `; ${retried.affected} failed tenant(s) retried first` : ''}`,
        data: { from, retried: retried.affected ?? 0 },
      });
      await advanceRollout(em, rollout, ctx);
    });
  }

  /** RUNNING or PAUSED → ABORTED, for good: migrations already running finish; the rest stay pending. */
  abort(id: string, ctx: SagaContext): Promise<RolloutDetail> {
    return this.steer(id, 'abort', ['RUNNING', 'PAUSED'], async (em, rollout) => {
      await setStatus(em, rollout, 'ABORTED', ctx, {
        reason: null,
        event: 'rollout.aborted',
        message: `aborted by ${ctx.actor}`,
      });
    });
  }

  /**
   * Leaves one pending or failed tenant of a RUNNING, PAUSED or FAILED rollout alone for good:
   * it is recorded as skipped with who and why, counts against no threshold, and the rollout can
   * finish without it (a FAILED rollout with no failed tenant left is SUCCEEDED). A PAUSED
   * rollout stays paused. ROLLOUT_TENANT_NOT_FOUND when the tenant is not the rollout's;
   * ROLLOUT_TENANT_ILLEGAL_STATE while it migrates, or once it migrated or was skipped.
   */
  skip(id: string, tenant: string, reason: string, ctx: SagaContext): Promise<RolloutDetail> {
    return this.steer(id, 'skipping a tenant', ['RUNNING', 'PAUSED', 'FAILED'], async (em, rollout) => {
      await skipRolloutTenant(em, rollout, tenant, reason, ctx);
    });
  }

  async get(id: string): Promise<RolloutDetail> {
    const rollout = await this.dataSource.getRepository(SchemaRolloutEntity).findOneBy({ id });
    if (!rollout) throw notFound(id);
    const [counts, tenants, events] = await Promise.all([
      stateCounts(this.dataSource.manager, id),
      this.dataSource.query<(Record<string, unknown> & { slug: string })[]>(
        `SELECT rt.*, t.slug FROM schema_rollout_tenants rt JOIN tenants t ON t.id = rt.tenant_id
          WHERE rt.rollout_id = $1 ORDER BY rt.position`,
        [id],
      ),
      this.dataSource
        .getRepository(SchemaRolloutEventEntity)
        .find({ where: { rolloutId: id }, order: { id: 'ASC' } }),
    ]);
    return { rollout, counts, tenants: tenants.map(tenantRow), events };
  }

  /** Newest first, with their counts. */
  async list(
    limit: number,
    after?: string,
  ): Promise<{
    items: { rollout: SchemaRolloutEntity; counts: RolloutDetail['counts'] }[];
    next: string | null;
  }> {
    const query = this.dataSource
      .getRepository(SchemaRolloutEntity)
      .createQueryBuilder('r')
      .orderBy('r.created_at', 'DESC')
      .addOrderBy('r.id', 'DESC')
      .limit(limit + 1);
    // The cursor is the last rollout of the previous page: compared in the database, at its precision.
    if (after)
      query.where(
        '(r.created_at, r.id) < (SELECT c.created_at, c.id FROM schema_rollouts c WHERE c.id = :after)',
        { after },
      );
    const page = await query.getMany();
    const rollouts = page.slice(0, limit);
    const rows = rollouts.length
      ? await this.dataSource.query<
          { rollout_id: string; state: keyof RolloutDetail['counts']; n: number }[]
        >(
          `SELECT rollout_id, state, count(*)::int AS n FROM schema_rollout_tenants
            WHERE rollout_id = ANY($1) GROUP BY rollout_id, state`,
          [rollouts.map((r) => r.id)],
        )
      : [];
    return {
      items: rollouts.map((rollout) => {
        const counts = { pending: 0, running: 0, succeeded: 0, failed: 0, skipped: 0 };
        for (const r of rows) if (r.rollout_id === rollout.id) counts[r.state] = r.n;
        return { rollout, counts };
      }),
      next: page.length > limit ? rollouts[rollouts.length - 1].id : null,
    };
  }

  /** How many ACTIVE and SUSPENDED tenants are at each version, and which are behind the newest. */
  async schemaVersions(): Promise<{
    newest: string;
    versions: { version: string | null; tenants: number }[];
    behind: { id: string; slug: string; tier: string; status: string; schemaVersion: string | null }[];
  }> {
    const newest = this.settings.migrations.newest;
    const tenants = await this.dataSource.getRepository(TenantEntity).find({
      select: { id: true, slug: true, tier: true, status: true, schemaVersion: true },
      where: { status: In([...MIGRATABLE]) },
      order: { slug: 'ASC' },
    });
    const byVersion = new Map<string | null, number>();
    for (const t of tenants) byVersion.set(t.schemaVersion, (byVersion.get(t.schemaVersion) ?? 0) + 1);
    const versions = [...byVersion.entries()]
      .map(([version, count]) => ({ version, tenants: count }))
      .sort((a, b) => {
        // No version (or not a number) first, then by number.
        const x = a.version === null ? -1n : (versionOrder(a.version) ?? -1n);
        const y = b.version === null ? -1n : (versionOrder(b.version) ?? -1n);
        return x < y ? -1 : x > y ? 1 : 0;
      });
    const behind = tenants
      .filter((t) => versusTarget(t.schemaVersion, newest) < 0)
      .map((t) => ({
        id: t.id,
        slug: t.slug,
        tier: t.tier,
        status: t.status,
        schemaVersion: t.schemaVersion,
      }));
    return { newest, versions, behind };
  }

  private async steer(
    id: string,
    action: string,
    from: readonly RolloutStatus[],
    apply: (em: EntityManager, rollout: SchemaRolloutEntity) => Promise<void>,
  ): Promise<RolloutDetail> {
    await this.dataSource
      .transaction(async (em) => {
        const rollout = await lockRollout(em, id);
        if (!rollout) throw notFound(id);
        if (!from.includes(rollout.status)) {
          throw new RolloutError(
            RolloutErrorCode.ROLLOUT_ILLEGAL_STATE,
            `rollout ${id} is ${rollout.status}; ${action} needs ${from.join(' or ')}`,
            { rolloutStatus: rollout.status },
          );
        }
        await apply(em, rollout);
      })
      .catch(rethrowOpenConflict);
    return this.get(id);
  }
}

function tenantRow(
  r: Record<string, unknown> & { slug: string },
): SchemaRolloutTenantEntity & { slug: string } {
  return {
    rolloutId: r.rollout_id as string,
    tenantId: r.tenant_id as string,
    slug: r.slug,
    wave: r.wave as number | null,
    position: r.position as number,
    state: r.state as SchemaRolloutTenantEntity['state'],
    attempt: r.attempt as number,
    failures: r.failures as number,
    fromVersion: r.from_version as string | null,
    reachedVersion: r.reached_version as string | null,
    failedMigration: r.failed_migration as string | null,
    sqlState: r.sql_state as string | null,
    errorCode: r.error_code as string | null,
    errorMessage: r.error_message as string | null,
    skippedBy: r.skipped_by as string | null,
    skipReason: r.skip_reason as string | null,
    startedAt: r.started_at as Date | null,
    finishedAt: r.finished_at as Date | null,
    poolHostId: r.pool_host_id as string | null,
  };
}

/** Two starts (or resumes) at once: the partial unique index `schema_rollouts_one_open` lets one through. */
function rethrowOpenConflict(error: unknown): never {
  if (isUniqueViolation(error, 'schema_rollouts_one_open')) throw alreadyOpen();
  throw error;
}

function notFound(id: string): RolloutError {
  return new RolloutError(RolloutErrorCode.ROLLOUT_NOT_FOUND, `no schema rollout ${id}`);
}

function alreadyOpen(id?: string, status?: string): RolloutError {
  return new RolloutError(
    RolloutErrorCode.ROLLOUT_ALREADY_OPEN,
    id
      ? `rollout ${id} is ${status}; finish, resume or abort it before starting another`
      : 'another rollout is RUNNING or PAUSED; finish, resume or abort it before starting another',
    id ? { rolloutId: id } : {},
  );
}
