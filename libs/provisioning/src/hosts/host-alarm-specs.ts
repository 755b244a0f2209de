import type { AlarmSpec } from '@silo/aws';
import { ProvisioningError, ProvisioningErrorCode, type HostResourceNames } from '@silo/core';
import { ALARM_METRICS } from '../saga/tenant-alarm-specs';
import { instanceClass, type TierProfile } from '../tiers';

const GIB = 1024 ** 3;

/** The alarm names of a host: one per metric a tenant instance is alarmed on. */
export function hostAlarmNames(names: Pick<HostResourceNames, 'alarmName'>): string[] {
  return ALARM_METRICS.map((metric) => names.alarmName(metric));
}

/**
 * The four alarms of a host, on the same metrics and with the same thresholds a tenant instance
 * of the host tier's profile gets (tenantAlarmSpecs takes a tenant's names, so this is its
 * counterpart for a host's).
 */
export function hostAlarmSpecs(
  names: Pick<HostResourceNames, 'instanceIdentifier' | 'alarmName'>,
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
      description: `Host average CPU above ${a.cpuHighPercent}% for 15 minutes`,
    },
    {
      ...base,
      name: names.alarmName('FreeStorageSpace'),
      metric: 'FreeStorageSpace',
      comparison: 'LessThanThreshold',
      threshold: Math.round(profile.storage.allocatedGiB * GIB * (a.freeStorageLowPercent / 100)),
      description: `Host free storage below ${a.freeStorageLowPercent}% of ${profile.storage.allocatedGiB} GiB`,
    },
    {
      ...base,
      name: names.alarmName('DatabaseConnections'),
      metric: 'DatabaseConnections',
      comparison: 'GreaterThanThreshold',
      threshold: Math.floor(cls.maxConnections * (a.connectionsHighPercent / 100)),
      description: `Host connections above ${a.connectionsHighPercent}% of max_connections (${cls.maxConnections})`,
    },
    {
      ...base,
      name: names.alarmName('FreeableMemory'),
      metric: 'FreeableMemory',
      comparison: 'LessThanThreshold',
      threshold: Math.round(cls.memoryGiB * GIB * (a.freeableMemoryLowPercent / 100)),
      description: `Host freeable memory below ${a.freeableMemoryLowPercent}% of ${cls.memoryGiB} GiB`,
    },
  ];
}

/** `<instance>-final-<yyyymmdd>-<hhmmss>`, as a tenant's final snapshot is named. */
export function hostFinalSnapshotIdentifier(instanceIdentifier: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-').toLowerCase();
  return `${instanceIdentifier}-final-${stamp}`;
}
