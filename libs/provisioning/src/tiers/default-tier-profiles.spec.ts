import { DEFAULT_TIER_PROFILES } from './default-tier-profiles';
import { loadTierProfiles } from './load-tier-profiles';

describe('DEFAULT_TIER_PROFILES', () => {
  it('pass the tier profiles schema unchanged', () => {
    expect(loadTierProfiles()).toEqual(DEFAULT_TIER_PROFILES);
  });

  it('follow the design table', () => {
    const summary = Object.values(loadTierProfiles()).map((p) => ({
      tier: p.tier,
      instanceClass: p.instanceClass,
      engineVersion: p.engineVersion,
      storage: p.storage,
      multiAz: p.multiAz,
      deletionProtection: p.deletionProtection,
      backupRetentionDays: p.backupRetentionDays,
      performanceInsights: p.performanceInsights,
    }));
    expect(summary).toEqual([
      {
        tier: 'starter',
        instanceClass: 'db.t3.micro',
        engineVersion: '16.4',
        storage: { type: 'gp3', allocatedGiB: 20 },
        multiAz: false,
        deletionProtection: false,
        backupRetentionDays: 7,
        performanceInsights: { enabled: false },
      },
      {
        tier: 'pro',
        instanceClass: 'db.t3.small',
        engineVersion: '16.4',
        storage: { type: 'gp3', allocatedGiB: 100 },
        multiAz: false,
        deletionProtection: false,
        backupRetentionDays: 14,
        performanceInsights: { enabled: true, retentionDays: 7 },
      },
      {
        tier: 'enterprise',
        instanceClass: 'db.m6i.large',
        engineVersion: '16.4',
        storage: { type: 'gp3', allocatedGiB: 500, iops: 16000, throughputMiBps: 1000 },
        multiAz: true,
        deletionProtection: true,
        backupRetentionDays: 35,
        performanceInsights: { enabled: true, retentionDays: 731 },
      },
    ]);
  });

  it('set tighter alarm thresholds for higher tiers', () => {
    const alarms = loadTierProfiles();
    expect(alarms.starter.alarms).toEqual({
      cpuHighPercent: 90,
      freeStorageLowPercent: 10,
      connectionsHighPercent: 90,
      freeableMemoryLowPercent: 10,
    });
    expect(alarms.pro.alarms).toEqual({
      cpuHighPercent: 85,
      freeStorageLowPercent: 15,
      connectionsHighPercent: 85,
      freeableMemoryLowPercent: 10,
    });
    expect(alarms.enterprise.alarms).toEqual({
      cpuHighPercent: 80,
      freeStorageLowPercent: 20,
      connectionsHighPercent: 80,
      freeableMemoryLowPercent: 15,
    });
  });

  it('are handed out as copies, so a caller cannot change them for everyone', () => {
    const loaded = loadTierProfiles();
    loaded.enterprise.storage.allocatedGiB = 1;
    expect(DEFAULT_TIER_PROFILES.enterprise.storage.allocatedGiB).toBe(500);
    expect(loadTierProfiles().enterprise.storage.allocatedGiB).toBe(500);
  });
});
