import type { TierName } from '@silo/core';

/** A tenant a rollout may take, as the plan orders it. */
export interface RolloutCandidate {
  id: string;
  tier: TierName;
  createdAt: Date;
}

export interface PlannedWave {
  index: number;
  kind: 'canary' | 'wave';
  /** The requested cumulative percentage (null for the canary). */
  percent: number | null;
  size: number;
}

export interface RolloutPlan {
  waves: PlannedWave[];
  /** Every candidate with its wave and its order in the rollout. */
  tenants: { tenantId: string; wave: number; position: number }[];
}

const TIER_ORDER: Record<TierName, number> = { starter: 0, pro: 1, enterprise: 2 };

/**
 * Orders the candidates (lower tiers first, then oldest first, so that the canary and the
 * early waves are the tenants with the least at stake) and cuts them into waves: `canary`
 * tenants first, then `wavePercents` as cumulative percentages of the rest (the last is 100).
 * Waves that come out empty are left out, so every planned wave has tenants.
 */
export function planRollout(
  candidates: readonly RolloutCandidate[],
  canary: number,
  wavePercents: readonly number[],
): RolloutPlan {
  const ordered = [...candidates].sort(
    (a, b) =>
      TIER_ORDER[a.tier] - TIER_ORDER[b.tier] ||
      a.createdAt.getTime() - b.createdAt.getTime() ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const canaryCount = Math.min(canary, ordered.length);
  const rest = ordered.length - canaryCount;
  const cuts: { kind: 'canary' | 'wave'; percent: number | null; end: number }[] = [];
  if (canaryCount) cuts.push({ kind: 'canary', percent: null, end: canaryCount });
  for (const percent of wavePercents) {
    cuts.push({ kind: 'wave', percent, end: canaryCount + Math.ceil((rest * percent) / 100) });
  }
  const waves: PlannedWave[] = [];
  const tenants: RolloutPlan['tenants'] = [];
  let start = 0;
  for (const cut of cuts) {
    const end = Math.min(cut.end, ordered.length);
    if (end <= start) continue;
    const index = waves.length;
    waves.push({ index, kind: cut.kind, percent: cut.percent, size: end - start });
    for (let i = start; i < end; i++) tenants.push({ tenantId: ordered[i].id, wave: index, position: i });
    start = end;
  }
  return { waves, tenants };
}
