import type { AlarmSpec } from '@silo/aws';
import type { HostResourceNames } from '@silo/core';
import { ALARM_METRICS, tenantAlarmSpecs } from '../saga/tenant-alarm-specs';
import type { TierProfile } from '../tiers';

/** The alarm names of a host: one per metric a tenant instance is alarmed on. */
export function hostAlarmNames(names: Pick<HostResourceNames, 'alarmName'>): string[] {
  return ALARM_METRICS.map((metric) => names.alarmName(metric));
}

/** The four alarms of a host: a tenant instance's of the host tier's profile, said to be the host's. */
export function hostAlarmSpecs(
  names: Pick<HostResourceNames, 'instanceIdentifier' | 'alarmName'>,
  profile: TierProfile,
  options: { actions: readonly string[]; tags: Record<string, string> },
): AlarmSpec[] {
  return tenantAlarmSpecs(names, profile, { ...options, subject: 'host' });
}
