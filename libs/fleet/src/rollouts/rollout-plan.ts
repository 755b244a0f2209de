import type { TierName } from '@silo/core';

/** A tenant a rollout may take, as the plan orders it. */
export interface RolloutCandidate {
  id: string;
  tier: TierName;
  createdAt: Date;
  /**
   * Its migration target when it shares one with other tenants (a pooled tenant: its host's pool
   * database, `pool:<host id>`); omitted when the target is the tenant's own database or schema.
   */
  target?: string;
}

export interface PlannedWave {
  index: number;
  kind: 'canary' | 'wave';
  /** The requested cumulative percentage (null for the canary). */
  percent: number | null;
  /** Tenants in the wave. */
  size: number;
  /** Migration targets in the wave: a pool database counts once, however many tenants it holds. */
  targets: number;
}

export interface RolloutPlan {
  waves: PlannedWave[];
  /** Every candidate with its wave and its order in the rollout; a target's tenants are adjacent. */
  tenants: { tenantId: string; wave: number; position: number }[];
}

const TIER_ORDER: Record<TierName, number> = { starter: 0, pro: 1, enterprise: 2 };

const byStake = (a: RolloutCandidate, b: RolloutCandidate): number =>
  TIER_ORDER[a.tier] - TIER_ORDER[b.tier] ||
  a.createdAt.getTime() - b.createdAt.getTime() ||
  (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Cuts the candidates into waves of migration targets. A target is one tenant's database or
 * schema, or one host's pool database with all its pooled tenants, which migrate together. The
 * targets are ordered by their first tenant (lower tiers first, then oldest first, so that the
 * canary and the early waves are those with the least at stake): `canary` targets first, then
 * `wavePercents` as cumulative percentages of the remaining targets (the last is 100). Waves
 * that come out empty are left out, so every planned wave has tenants.
 */
export function planRollout(
  candidates: readonly RolloutCandidate[],
  canary: number,
  wavePercents: readonly number[],
): RolloutPlan {
  const groups = new Map<string, RolloutCandidate[]>();
  for (const c of [...candidates].sort(byStake)) {
    const key = c.target ?? `tenant:${c.id}`;
    const group = groups.get(key);
    if (group) group.push(c);
    else groups.set(key, [c]);
  }
  const ordered = [...groups.values()];
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
    const members = ordered.slice(start, end).flat();
    waves.push({ index, kind: cut.kind, percent: cut.percent, size: members.length, targets: end - start });
    for (const c of members) tenants.push({ tenantId: c.id, wave: index, position: tenants.length });
    start = end;
  }
  return { waves, tenants };
}
