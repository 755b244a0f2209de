import { parseTierProfiles } from '../tiers/load-tier-profiles';
import type { TierProfiles } from '../tiers/tier-profile';

/**
 * Every tier on its own instance, sized as the tiers were before placements (design.md, "Tier
 * profiles"): for tests of instance tenants, whatever the default profiles place on shared hosts.
 */
export const INSTANCE_TIER_PROFILES: TierProfiles = parseTierProfiles({
  tiers: {
    starter: {
      placement: 'instance',
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
      placement: 'instance',
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
      placement: 'instance',
      instanceClass: 'db.m6i.large',
      engineVersion: '16.4',
      storage: { type: 'gp3', allocatedGiB: 500, iops: 16000, throughputMiBps: 1000 },
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
  },
});
