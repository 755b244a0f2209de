import type { AlarmSpec } from '@silo/aws';
import { ProvisioningError, ProvisioningErrorCode, type TenantResourceNames } from '@silo/core';
import { instanceClass, type TierProfile } from '../tiers';

const GIB = 1024 ** 3;
export const ALARM_METRICS = [
  'CPUUtilization',
  'FreeStorageSpace',
  'DatabaseConnections',
  'FreeableMemory',
] as const;

/**
 * The profile alarms are computed from for an instance with `allocatedGiB` of storage: storage
 * only grows, so after a change to a tier with less, the free-storage alarm follows what the
 * instance has rather than what the tier says.
 */
export function alarmProfile(profile: TierProfile, allocatedGiB: number | undefined): TierProfile {
  if (allocatedGiB === undefined || allocatedGiB <= profile.storage.allocatedGiB) return profile;
  return { ...profile, storage: { ...profile.storage, allocatedGiB } };
}

/**
 * The four alarms of a tenant's instance (or a shared host's: the same metrics and thresholds,
 * `subject: 'host'` saying so in the descriptions), thresholds from its tier profile and
 * instance class.
 */
export function tenantAlarmSpecs(
  names: Pick<TenantResourceNames, 'instanceIdentifier' | 'alarmName'>,
  profile: TierProfile,
  options: { actions: readonly string[]; tags: Record<string, string>; subject?: 'host' },
): AlarmSpec[] {
  const specs = instanceAlarmSpecs(names, profile, options);
  if (options.subject !== 'host') return specs;
  return specs.map((spec) => ({
    ...spec,
    description: `Host ${spec.description.charAt(0).toLowerCase()}${spec.description.slice(1)}`,
  }));
}

function instanceAlarmSpecs(
  names: Pick<TenantResourceNames, 'instanceIdentifier' | 'alarmName'>,
  profile: TierProfile,
  options: { actions: readonly string[]; tags: Record<string, string> },
): AlarmSpec[] {
  const cls = instanceClass(profile.instanceClass);
  if (!cls) {
    throw new ProvisioningError(
      ProvisioningErrorCode.INCONSISTENT_STATE,
      `unknown instance class ${profile.instanceClass}`,
    );
  }
  const a = profile.alarms;
  const base = { instanceIdentifier: names.instanceIdentifier, actions: options.actions, tags: options.tags };
  return [
    {
      ...base,
      name: names.alarmName('CPUUtilization'),
      metric: 'CPUUtilization',
      comparison: 'GreaterThanThreshold',
      threshold: a.cpuHighPercent,
      description: `Average CPU above ${a.cpuHighPercent}% for 15 minutes`,
    },
    {
      ...base,
      name: names.alarmName('FreeStorageSpace'),
      metric: 'FreeStorageSpace',
      comparison: 'LessThanThreshold',
      threshold: Math.round(profile.storage.allocatedGiB * GIB * (a.freeStorageLowPercent / 100)),
      description: `Free storage below ${a.freeStorageLowPercent}% of ${profile.storage.allocatedGiB} GiB`,
    },
    {
      ...base,
      name: names.alarmName('DatabaseConnections'),
      metric: 'DatabaseConnections',
      comparison: 'GreaterThanThreshold',
      threshold: Math.floor(cls.maxConnections * (a.connectionsHighPercent / 100)),
      description: `Connections above ${a.connectionsHighPercent}% of max_connections (${cls.maxConnections})`,
    },
    {
      ...base,
      name: names.alarmName('FreeableMemory'),
      metric: 'FreeableMemory',
      comparison: 'LessThanThreshold',
      threshold: Math.round(cls.memoryGiB * GIB * (a.freeableMemoryLowPercent / 100)),
      description: `Freeable memory below ${a.freeableMemoryLowPercent}% of ${cls.memoryGiB} GiB`,
    },
  ];
}
