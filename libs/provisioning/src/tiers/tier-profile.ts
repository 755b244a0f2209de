import { type TierName } from '@silo/core';

/** How a tenant's RDS for PostgreSQL instance is sized and protected, for one tier. */
export interface TierProfile {
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

/** One profile per tier. */
export type TierProfiles = Readonly<Record<TierName, TierProfile>>;
