import { type TierProfiles } from './tier-profile';

/** The profiles used when no tier profiles file is given (design.md, "Tier profiles"). */
export const DEFAULT_TIER_PROFILES: TierProfiles = {
  starter: {
    tier: 'starter',
    instanceClass: 'db.t3.micro',
    engineVersion: '16.4',
    storage: { type: 'gp3', allocatedGiB: 20 },
    multiAz: false,
    deletionProtection: false,
    backupRetentionDays: 7,
    performanceInsights: { enabled: false },
    alarms: {
      cpuHighPercent: 90,
      freeStorageLowPercent: 10,
      connectionsHighPercent: 90,
      freeableMemoryLowPercent: 10,
    },
  },
  pro: {
    tier: 'pro',
    instanceClass: 'db.t3.small',
    engineVersion: '16.4',
    storage: { type: 'gp3', allocatedGiB: 100 },
    multiAz: false,
    deletionProtection: false,
    backupRetentionDays: 14,
    performanceInsights: { enabled: true, retentionDays: 7 },
    alarms: {
      cpuHighPercent: 85,
      freeStorageLowPercent: 15,
      connectionsHighPercent: 85,
      freeableMemoryLowPercent: 10,
    },
  },
  enterprise: {
    tier: 'enterprise',
    instanceClass: 'db.m6i.large',
    engineVersion: '16.4',
    storage: { type: 'gp3', allocatedGiB: 500, iops: 16_000, throughputMiBps: 1000 },
    multiAz: true,
    deletionProtection: true,
    backupRetentionDays: 35,
    performanceInsights: { enabled: true, retentionDays: 731 },
    alarms: {
      cpuHighPercent: 80,
      freeStorageLowPercent: 20,
      connectionsHighPercent: 80,
      freeableMemoryLowPercent: 15,
    },
  },
};
