import type { Placement, SharedPlacement, TierName } from '@silo/core';
import {
  GP3_IOPS,
  GP3_PROVISIONED_FROM_GIB,
  GP3_THROUGHPUT_MIBPS,
  instanceClass,
  isSharedTierProfile,
  type HostCapacity,
  type TierProfile,
} from '../tiers';

/** RDS refuses a second storage modification within six hours of the last one. */
export const STORAGE_COOLDOWN_MS = 6 * 3600_000;
/** RDS refuses an allocated-storage increase of less than ten per cent. */
export const MIN_STORAGE_INCREASE = 0.1;

/** What an instance is (or, with the pending values laid over it, is about to be). */
export interface InstanceShape {
  instanceClass: string;
  allocatedGiB: number;
  iops: number | null;
  throughputMiBps: number | null;
  multiAz: boolean;
  deletionProtection: boolean;
  backupRetentionDays: number;
  /** null: RDS did not say (the emulator never does); a modification then sends it anyway. */
  performanceInsights: PerformanceInsights | null;
}

export type PerformanceInsights = { enabled: false } | { enabled: true; retentionDays: number };

/** What a tier change makes of the tenant's own instance, and what it says about it. */
export interface TierChangePlan {
  from: TierName;
  to: TierName;
  target: InstanceShape;
  /** Whether allocated storage, IOPS or throughput change: the six-hour rule applies. */
  storageChanges: boolean;
  /** Where the instance keeps or gets something other than the tier profile says, and why. */
  notes: string[];
}

/** The AWS (or Silo) rule a requested change breaks, by name, with what to do about it. */
export class TierChangeRefused extends Error {
  override readonly name = 'TierChangeRefused';
  constructor(
    readonly rule: TierChangeRule,
    message: string,
  ) {
    super(message);
  }
}

export type TierChangeRule =
  | 'same-tier'
  | 'instance-not-available'
  | 'instance-class-unknown'
  | 'multi-az-not-supported'
  | 'storage-cooldown'
  | 'host-sizing-differs';

const PLACEMENT_WORDS: Readonly<Record<Placement, string>> = {
  instance: 'an RDS instance of its own',
  schema: 'a schema of its own on a shared host',
  pool: "rows in the shared tables of a host's pool database",
};

/**
 * A tier change that would move the tenant to another placement. Moving a tenant between
 * placements is a move (its data copied to the new place and cut over, POST …/move); a tier
 * change never moves data.
 */
export class PlacementChangeRefused extends Error {
  override readonly name = 'PlacementChangeRefused';
  constructor(
    readonly from: Placement,
    readonly to: { tier: TierName; placement: Placement },
  ) {
    super(
      `the tenant's placement is ${from} (${PLACEMENT_WORDS[from]}) and the ${to.tier} tier's is ` +
        `${to.placement} (${PLACEMENT_WORDS[to.placement]}); a tier change keeps the placement: moving ` +
        `the tenant from ${from} to ${to.placement} copies its data while it is served, with ` +
        `POST /v1/tenants/{id}/move {"tier": "${to.tier}"}`,
    );
  }
}

/**
 * The placement a tier change keeps: refuses the same tier, and a `to` tier whose placement is
 * not the tenant's (a {@link PlacementChangeRefused}).
 */
export function placementOfTierChange(
  from: { tier: TierName; placement: Placement },
  to: TierProfile,
): Placement {
  if (from.tier === to.tier) {
    throw new TierChangeRefused('same-tier', `the tenant is already on the ${from.tier} tier`);
  }
  if (from.placement !== to.placement) {
    throw new PlacementChangeRefused(from.placement, { tier: to.tier, placement: to.placement });
  }
  return to.placement;
}

/**
 * A tier change between two tiers of the same shared placement whose hosts are sized alike. No
 * instance changes and no data moves: the tenant keeps its schema or its rows on its host and only
 * its tier is recorded (a schema tenant's app secret is tagged with it). The host keeps counting
 * the tenant against its capacity, since placements count a host's tenants by host, whatever
 * their tier.
 */
export interface SharedTierChangePlan {
  from: TierName;
  to: TierName;
  placement: SharedPlacement;
  /** The host the tenant stays on. */
  host: string;
  /** Always null: no instance is modified. */
  target: null;
  storageChanges: false;
  notes: string[];
}

/** What sizes a shared host and what each of its tenants gets of it: compared field by field. */
export interface HostSizing {
  instanceClass: string;
  engineVersion: string;
  storage: TierProfile['storage'];
  multiAz: boolean;
  deletionProtection: boolean;
  backupRetentionDays: number;
  performanceInsights: TierProfile['performanceInsights'];
  tenantsPerHost: number;
  connectionBudget: number;
}

/**
 * A host's sizing: its tier's profile for the instance (what the host saga created it with) and the
 * capacity recorded on the host (what placements count against).
 */
export function hostSizing(profile: TierProfile, capacity: HostCapacity): HostSizing {
  return {
    instanceClass: profile.instanceClass,
    engineVersion: profile.engineVersion,
    storage: profile.storage,
    multiAz: profile.multiAz,
    deletionProtection: profile.deletionProtection,
    backupRetentionDays: profile.backupRetentionDays,
    performanceInsights: profile.performanceInsights,
    tenantsPerHost: capacity.tenantsPerHost,
    connectionBudget: capacity.connectionBudget,
  };
}

/** The fields in which two sizings differ, with both values, in a stable order. */
export function hostSizingDifferences(host: HostSizing, wanted: HostSizing): string[] {
  return (Object.keys(host) as Array<keyof HostSizing>)
    .filter((field) => JSON.stringify(host[field]) !== JSON.stringify(wanted[field]))
    .map((field) => `${field} ${JSON.stringify(host[field])} (the tier's ${JSON.stringify(wanted[field])})`);
}

/**
 * The plan of a tier change within a shared placement. The tenant's host was sized by its own
 * tier's profile (`host.profile`) and holds `host.capacity`; the change keeps the tenant there, so
 * it is accepted only when the `to` tier would size its hosts the same way and give its tenants
 * the same share (capacity). Otherwise it would need a move to a host of the `to` tier, which is
 * refused (`host-sizing-differs`, naming each field) until moving a tenant between hosts is
 * available. Refuses the same tier and a change of placement first.
 */
export function planSharedTierChange(input: {
  from: { tier: TierName; placement: SharedPlacement };
  to: TierProfile;
  host: { name: string; profile: TierProfile; capacity: HostCapacity };
}): SharedTierChangePlan {
  const { from, to, host } = input;
  const placement = placementOfTierChange(from, to) as SharedPlacement;
  if (!isSharedTierProfile(to)) {
    // placementOfTierChange refused every other placement already.
    throw new PlacementChangeRefused(placement, { tier: to.tier, placement: to.placement });
  }
  const differences = hostSizingDifferences(
    hostSizing(host.profile, host.capacity),
    hostSizing(to, to.capacity),
  );
  if (differences.length > 0) {
    throw new TierChangeRefused(
      'host-sizing-differs',
      `the tenant's ${placement} host ${host.name} is sized for the ${host.profile.tier} tier and the ` +
        `${to.tier} tier sizes its hosts differently: ${differences.join(', ')}. A tier change keeps a ` +
        `shared tenant on its host; moving it to a host of the ${to.tier} tier is a move between ` +
        `hosts${placement === 'pool' ? `: POST /v1/tenants/{id}/move {"tier": "${to.tier}"}` : ', which is not made yet for schema tenants'}`,
    );
  }
  return {
    from: from.tier,
    to: to.tier,
    placement,
    host: host.name,
    target: null,
    storageChanges: false,
    notes: [
      `the tenant stays on its ${placement} host ${host.name}, which the ${to.tier} tier would size the same way; ` +
        'nothing is modified on RDS and no data moves',
    ],
  };
}

/** A tier change of a tenant on its own instance. */
export interface TierChangeInput {
  /** The tenant's tier now. */
  from: TierName;
  to: TierProfile;
  /** The instance as RDS describes it now, pending values laid over. */
  current: InstanceShape;
  status: string;
  /** When Silo last changed this instance's storage, if it ever did. */
  lastStorageChangeAt: Date | null;
  now: Date;
}

/**
 * The modification a tier change of a tenant on its own instance asks RDS for, checked against
 * the rules RDS enforces so that a change it would refuse is refused here, naming the rule,
 * before anything is sent:
 *
 * - the `to` tier is an `instance` tier too (a shared one is a placement change, refused);
 * - storage only grows: a tier with less storage keeps the current size (and says so), and an
 *   increase is at least ten per cent (a smaller one is rounded up);
 * - gp3 IOPS and throughput are set only from 400 GiB; at that size they never go below what the
 *   instance has, since RDS's gp3 baseline there is 12,000 IOPS and 500 MiB/s;
 * - Multi-AZ only on classes that allow it;
 * - no second storage change within six hours of the last one.
 */
export function planTierChange(input: TierChangeInput): TierChangePlan {
  const { from, to, current, status, now } = input;
  placementOfTierChange({ tier: from, placement: 'instance' }, to);
  if (status !== 'available') {
    throw new TierChangeRefused(
      'instance-not-available',
      `the instance is ${status}; RDS modifies an instance only while it is available`,
    );
  }
  const cls = instanceClass(to.instanceClass);
  if (!cls) {
    throw new TierChangeRefused(
      'instance-class-unknown',
      `the ${to.tier} tier names ${to.instanceClass}, which is not in Silo's instance catalogue`,
    );
  }
  if (to.multiAz && !cls.multiAz) {
    throw new TierChangeRefused(
      'multi-az-not-supported',
      `the ${to.tier} tier asks for Multi-AZ on ${cls.name}, which does not allow it`,
    );
  }

  const notes: string[] = [];
  const allocatedGiB = targetStorage(current.allocatedGiB, to, notes);
  const { iops, throughputMiBps } = targetProvisioned(allocatedGiB, current, to, notes);
  const target: InstanceShape = {
    instanceClass: to.instanceClass,
    allocatedGiB,
    iops,
    throughputMiBps,
    multiAz: to.multiAz,
    deletionProtection: to.deletionProtection,
    backupRetentionDays: to.backupRetentionDays,
    performanceInsights: to.performanceInsights,
  };
  const storageChanges =
    allocatedGiB !== current.allocatedGiB ||
    iops !== current.iops ||
    throughputMiBps !== current.throughputMiBps;

  if (storageChanges && input.lastStorageChangeAt) {
    const possibleAt = new Date(input.lastStorageChangeAt.getTime() + STORAGE_COOLDOWN_MS);
    if (possibleAt > now) {
      throw new TierChangeRefused(
        'storage-cooldown',
        `the storage of this instance was last changed at ${input.lastStorageChangeAt.toISOString()}; ` +
          `RDS allows the next storage change from ${possibleAt.toISOString()}`,
      );
    }
  }
  return { from, to: to.tier, target, storageChanges, notes };
}

function targetStorage(currentGiB: number, to: TierProfile, notes: string[]): number {
  const wanted = to.storage.allocatedGiB;
  if (wanted <= currentGiB) {
    if (wanted < currentGiB) {
      notes.push(
        `storage stays at ${currentGiB} GiB (the ${to.tier} tier has ${wanted} GiB): RDS storage only grows`,
      );
    }
    return currentGiB;
  }
  const least = Math.ceil(currentGiB * (1 + MIN_STORAGE_INCREASE));
  if (wanted < least) {
    notes.push(
      `storage grows to ${least} GiB rather than ${wanted} GiB: RDS needs an increase of at least 10%`,
    );
    return least;
  }
  return wanted;
}

function targetProvisioned(
  allocatedGiB: number,
  current: InstanceShape,
  to: TierProfile,
  notes: string[],
): { iops: number | null; throughputMiBps: number | null } {
  if (allocatedGiB < GP3_PROVISIONED_FROM_GIB) return { iops: null, throughputMiBps: null };
  // A tier without provisioned IOPS or throughput leaves what the instance has: at this size
  // gp3 never goes below its baseline anyway.
  const pick = (label: string, wanted: number | undefined, now: number | null, baseline: number) => {
    if (wanted !== undefined) return wanted;
    if (now !== null && now > baseline) {
      notes.push(
        `${label} stays at ${now}: the ${to.tier} tier sets none, and ${allocatedGiB} GiB of gp3 keeps it`,
      );
    }
    return now;
  };
  return {
    iops: pick('IOPS', to.storage.iops, current.iops, GP3_IOPS.min),
    throughputMiBps: pick(
      'throughput (MiB/s)',
      to.storage.throughputMiBps,
      current.throughputMiBps,
      GP3_THROUGHPUT_MIBPS.min,
    ),
  };
}

/** The fields of ModifyDBInstance that take `current` to `target`; empty when nothing differs. */
export interface InstanceModification {
  instanceClass?: string;
  storage?: { allocatedGiB: number; iops?: number; throughputMiBps?: number };
  multiAz?: boolean;
  deletionProtection?: boolean;
  backupRetentionDays?: number;
  performanceInsights?: PerformanceInsights;
}

export function modificationOf(current: InstanceShape, target: InstanceShape): InstanceModification {
  const m: InstanceModification = {};
  if (current.instanceClass !== target.instanceClass) m.instanceClass = target.instanceClass;
  if (
    current.allocatedGiB !== target.allocatedGiB ||
    current.iops !== target.iops ||
    current.throughputMiBps !== target.throughputMiBps
  ) {
    // Sent together: RDS checks gp3 size, IOPS and throughput against each other.
    m.storage = {
      allocatedGiB: target.allocatedGiB,
      ...(target.iops !== null ? { iops: target.iops } : {}),
      ...(target.throughputMiBps !== null ? { throughputMiBps: target.throughputMiBps } : {}),
    };
  }
  if (current.multiAz !== target.multiAz) m.multiAz = target.multiAz;
  if (current.deletionProtection !== target.deletionProtection)
    m.deletionProtection = target.deletionProtection;
  if (current.backupRetentionDays !== target.backupRetentionDays)
    m.backupRetentionDays = target.backupRetentionDays;
  const [pa, pb] = [current.performanceInsights, target.performanceInsights];
  if (pb && (!pa || !samePerformanceInsights(pa, pb))) m.performanceInsights = pb;
  return m;
}

/**
 * Whether the instance already is (or, with its pending values, is about to be) `target`, in
 * everything RDS reports: Performance Insights counts only where it is described.
 */
export function reaches(current: InstanceShape, target: InstanceShape): boolean {
  const { performanceInsights, ...rest } = modificationOf(current, target);
  return Object.keys(rest).length === 0 && (!performanceInsights || current.performanceInsights === null);
}

function samePerformanceInsights(a: PerformanceInsights, b: PerformanceInsights): boolean {
  return a.enabled === b.enabled && (!a.enabled || !b.enabled || a.retentionDays === b.retentionDays);
}
