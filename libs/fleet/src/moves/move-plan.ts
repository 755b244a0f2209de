import type { Placement, TierName } from '@silo/core';

/** Where a tenant lives: its placement, region and tier (and, for a shared placement, its host). */
export interface TenantPlace {
  placement: Placement;
  region: string;
  tier: TierName;
  /** The host of a `schema` or `pool` place (the source's; the target's once reserved). */
  hostId: string | null;
}

/** What a move asks for; each field omitted keeps what the tenant has (placement: the tier's). */
export interface MoveRequest {
  placement?: Placement;
  region?: string;
  tier?: TierName;
}

/**
 * A move as recorded on its change row (`tenant_changes.plan`) when it is requested, and what its
 * steps learn as they run: the target's names, its facts once made, the copy's figures. Never a
 * secret.
 */
export interface MovePlan {
  from: TenantPlace;
  to: TenantPlace;
  /** The target instance (an `instance` target), named when the move is requested. */
  targetInstance: string | null;
  /**
   * The target's app secret while the move runs: the tenant's own `<prefix>/<slug>/app` when the
   * source has none in the target's region, else `<prefix>/<slug>/app-move`, whose value the
   * switch writes into the tenant's own (the data plane reads that name only).
   */
  targetAppSecret: string | null;
  targetMasterSecret: string | null;
  /** The target's connection facts, recorded by its steps (the endpoint, ARNs); never a password. */
  targetFacts: Record<string, unknown>;
  /** Set by `…/move/abort`: the saga stops before the cut-over and removes the target. */
  abortRequested: boolean;
  /** The cut-over's figures, once done. */
  cutOver: {
    frozenForMs: number;
    pausedForMs: number;
    tables: Array<{ table: string; rows: number }>;
  } | null;
  /** When the source's data goes (MOVE_SOURCE_RETENTION_HOURS after the switch). */
  sourceRemovalDueAt: string | null;
}

/** `pool@eu-west-1`: a place as a change's from and to show it. */
export function placeLabel(place: Pick<TenantPlace, 'placement' | 'region'>): string {
  return `${place.placement}@${place.region}`;
}

/** Which moves Silo makes: sources and targets whose tables it can stream into each other. */
export function moveSupported(from: Placement, to: Placement): { ok: true } | { ok: false; why: string } {
  if (from === 'schema' && to === 'pool')
    return {
      ok: false,
      why: "a schema tenant's tables cannot stream into a pool's shared tables (their schemas differ, and a pool's cannot be renamed)",
    };
  return { ok: true };
}
