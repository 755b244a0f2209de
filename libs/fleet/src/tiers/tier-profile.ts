import { type SharedPlacement, type TierName } from '@silo/core';

/**
 * How a tier's RDS for PostgreSQL instance is sized and protected. For an `instance` tier that
 * instance is the tenant's own; for a shared tier (`schema`, `pool`) it is each **host** Silo
 * creates for that tier's tenants: the instance fields then size the host, never a tenant.
 */
interface TierInstanceProfile {
  tier: TierName;
  /** An instance class from the catalogue, e.g. `db.t3.micro`. */
  instanceClass: string;
  /** `major` or `major.minor`, e.g. `16.4`; major 13 or later. */
  engineVersion: string;
  /** gp3 only; `iops` and `throughputMiBps` only from 400 GiB. */
  storage: { type: 'gp3'; allocatedGiB: number; iops?: number; throughputMiBps?: number };
  multiAz: boolean;
  deletionProtection: boolean;
  /** 0..35; 0 turns automated backups (and point-in-time recovery) off. */
  backupRetentionDays: number;
  /** Retention is 7, 731 or a multiple of 31 days. */
  performanceInsights: { enabled: false } | { enabled: true; retentionDays: number };
  /** CloudWatch alarm thresholds, each a percentage strictly between 0 and 100. */
  alarms: {
    /** Alarm when average CPU is above this. */
    cpuHighPercent: number;
    /** Alarm when free storage is below this share of allocated storage. */
    freeStorageLowPercent: number;
    /** Alarm when connections are above this share of the class's `max_connections`. */
    connectionsHighPercent: number;
    /** Alarm when freeable memory is below this share of the class's memory. */
    freeableMemoryLowPercent: number;
  };
}

/** How many tenants one shared host takes, and the connections they may hold together. */
export interface HostCapacity {
  /** Tenants placed on one host before Silo creates the next; at least 1. */
  tenantsPerHost: number;
  /**
   * Connections all tenants of one host may hold together; at least 1, and at most 80 % of the
   * host class's `max_connections` (the rest is for Silo's own sessions and RDS's reserved ones).
   */
  connectionBudget: number;
}

/** A tier whose tenants each get their own encrypted RDS instance, sized by this profile. */
export interface InstanceTierProfile extends TierInstanceProfile {
  placement: 'instance';
}

/**
 * A tier whose tenants share hosts: `schema` (a schema and login role each) or `pool` (rows in
 * the host's pool database under row-level security). The instance fields size each host.
 */
export interface SharedTierProfile extends TierInstanceProfile {
  placement: SharedPlacement;
  capacity: HostCapacity;
}

/**
 * A tier's profile. `placement` says where its tenants' data lives (a file that leaves it out
 * means `instance`); `capacity` exists exactly when the placement is shared.
 */
export type TierProfile = InstanceTierProfile | SharedTierProfile;

/** One profile per tier. */
export type TierProfiles = Readonly<Record<TierName, TierProfile>>;

/** Whether `profile` places its tenants on shared hosts. */
export function isSharedTierProfile(profile: TierProfile): profile is SharedTierProfile {
  return profile.placement !== 'instance';
}
