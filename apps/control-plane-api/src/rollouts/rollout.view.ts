import type { SchemaRolloutEntity } from '@silo/control-plane-db';
import type { TierName } from '@silo/core';
import type { RolloutDetail, SchemaRollouts } from '@silo/fleet';
import type { RolloutResource, RolloutSummaryResource, SchemaVersionsResource } from './rollout.responses';

type Counts = RolloutDetail['counts'];

export function rolloutSummaryView(rollout: SchemaRolloutEntity, counts: Counts): RolloutSummaryResource {
  return {
    id: rollout.id,
    status: rollout.status,
    targetVersion: rollout.targetVersion,
    canary: rollout.canary,
    waves: rollout.wavePercents,
    maxConcurrency: rollout.maxConcurrency,
    failureThreshold: rollout.failureThreshold,
    pauseBetweenWaves: rollout.pauseBetweenWaves,
    tiers: rollout.tiers as TierName[] | null,
    pausedBecause: rollout.pauseKind,
    pausedReason: rollout.pausedReason,
    currentWave: rollout.currentWave,
    createdBy: rollout.createdBy,
    createdAt: rollout.createdAt.toISOString(),
    updatedAt: rollout.updatedAt.toISOString(),
    finishedAt: rollout.finishedAt?.toISOString() ?? null,
    counts,
  };
}

export function rolloutView({ rollout, counts, tenants, events }: RolloutDetail): RolloutResource {
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    ...rolloutSummaryView(rollout, counts),
    plan: rollout.plan.map((wave) => {
      const mine = tenants.filter((t) => t.wave === wave.index);
      const waveCounts: Counts = { pending: 0, running: 0, succeeded: 0, failed: 0, skipped: 0 };
      for (const t of mine) waveCounts[t.state]++;
      return {
        index: wave.index,
        kind: wave.kind,
        percent: wave.percent,
        // Plans made before pool targets counted each tenant as one.
        targets: wave.targets ?? wave.size,
        counts: waveCounts,
        tenants: mine.map((t) => ({
          tenantId: t.tenantId,
          slug: t.slug,
          state: t.state,
          fromVersion: t.fromVersion,
          reachedVersion: t.reachedVersion,
          attempt: t.attempt,
          poolHostId: t.poolHostId ?? null,
          startedAt: iso(t.startedAt),
          finishedAt: iso(t.finishedAt),
        })),
      };
    }),
    // Only a tenant in a wave is ever dispatched, so only those fail.
    failedTenants: tenants
      .filter((t): t is typeof t & { wave: number } => t.state === 'failed' && t.wave !== null)
      .map((t) => ({
        tenantId: t.tenantId,
        slug: t.slug,
        wave: t.wave,
        versionReached: t.reachedVersion,
        failingMigration: t.failedMigration,
        sqlState: t.sqlState,
        code: t.errorCode,
        message: t.errorMessage,
      })),
    skippedTenants: tenants
      .filter((t) => t.state === 'skipped')
      .map((t) => ({
        tenantId: t.tenantId,
        slug: t.slug,
        wave: t.wave,
        fromVersion: t.fromVersion,
        reason: t.skipReason,
        skippedBy: t.skippedBy,
        skippedAt: iso(t.finishedAt),
      })),
    events: events.map((e) => ({
      at: e.at.toISOString(),
      type: e.type,
      message: e.message,
      actor: e.actor,
      correlationId: e.correlationId,
    })),
  };
}

export function schemaVersionsView(
  versions: Awaited<ReturnType<SchemaRollouts['schemaVersions']>>,
  limit = 200,
): SchemaVersionsResource {
  return {
    newest: versions.newest,
    versions: versions.versions,
    behind: {
      count: versions.behind.length,
      items: versions.behind.slice(0, limit).map((t) => ({
        ...t,
        tier: t.tier as TierName,
        status: t.status as SchemaVersionsResource['behind']['items'][number]['status'],
      })),
    },
  };
}
