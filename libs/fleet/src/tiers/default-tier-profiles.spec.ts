import { DEFAULT_TIER_PROFILES } from './default-tier-profiles';
import { instanceClass } from './instance-classes';
import { loadTierProfiles } from './load-tier-profiles';
import { isSharedTierProfile } from './tier-profile';

describe('DEFAULT_TIER_PROFILES', () => {
  it('pass the tier profiles schema unchanged', () => {
    expect(loadTierProfiles()).toEqual(DEFAULT_TIER_PROFILES);
  });

  it('pool starter tenants, give pro tenants a schema each and enterprise tenants their own instance', () => {
    const placed = Object.values(loadTierProfiles()).map((p) => ({
      tier: p.tier,
      placement: p.placement,
      capacity: isSharedTierProfile(p) ? p.capacity : undefined,
    }));
    expect(placed).toEqual([
      { tier: 'starter', placement: 'pool', capacity: { tenantsPerHost: 1000, connectionBudget: 200 } },
      { tier: 'pro', placement: 'schema', capacity: { tenantsPerHost: 50, connectionBudget: 400 } },
      { tier: 'enterprise', placement: 'instance', capacity: undefined },
    ]);
  });

  it('size the shared hosts and the enterprise instance', () => {
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
        instanceClass: 'db.t4g.medium',
        engineVersion: '17',
        storage: { type: 'gp3', allocatedGiB: 200 },
        multiAz: true,
        deletionProtection: true,
        backupRetentionDays: 7,
        performanceInsights: { enabled: true, retentionDays: 7 },
      },
      {
        tier: 'pro',
        instanceClass: 'db.m6i.large',
        engineVersion: '17',
        storage: { type: 'gp3', allocatedGiB: 500 },
        multiAz: true,
        deletionProtection: true,
        backupRetentionDays: 14,
        performanceInsights: { enabled: true, retentionDays: 7 },
      },
      {
        tier: 'enterprise',
        instanceClass: 'db.m6i.large',
        engineVersion: '17',
        storage: { type: 'gp3', allocatedGiB: 500, iops: 16000, throughputMiBps: 1000 },
        multiAz: true,
        deletionProtection: true,
        backupRetentionDays: 35,
        performanceInsights: { enabled: true, retentionDays: 731 },
      },
    ]);
  });

  it('keep each shared host’s budget under half its max_connections and below its connections alarm', () => {
    for (const profile of Object.values(loadTierProfiles()).filter(isSharedTierProfile)) {
      const maxConnections = instanceClass(profile.instanceClass)!.maxConnections;
      const { connectionBudget } = profile.capacity;
      expect({ tier: profile.tier, underHalf: connectionBudget <= maxConnections / 2 }).toEqual({
        tier: profile.tier,
        underHalf: true,
      });
      const alarmAt = (maxConnections * profile.alarms.connectionsHighPercent) / 100;
      expect({ tier: profile.tier, belowAlarm: connectionBudget < alarmAt }).toEqual({
        tier: profile.tier,
        belowAlarm: true,
      });
    }
  });

  it('set the alarm thresholds per tier', () => {
    const alarms = loadTierProfiles();
    expect(alarms.starter.alarms).toEqual({
      cpuHighPercent: 80,
      freeStorageLowPercent: 15,
      connectionsHighPercent: 50,
      freeableMemoryLowPercent: 10,
    });
    expect(alarms.pro.alarms).toEqual({
      cpuHighPercent: 80,
      freeStorageLowPercent: 15,
      connectionsHighPercent: 50,
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
