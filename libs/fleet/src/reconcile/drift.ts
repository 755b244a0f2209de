import {
  ALARM_EVALUATION,
  parameterGroupName,
  type AlarmSpec,
  type EngineVersionStatus,
  type FleetAlarm,
  type FleetInstance,
  type FleetSecret,
  type InstanceProtection,
} from '@silo/aws';
import type { TierProfile } from '../tiers';

/**
 * - `repairable`: Silo puts it back itself (open only until the repair has gone through);
 * - `reported`: a change an operator should decide on (class, storage, Multi-AZ, encryption,
 *   KMS key, public access): shown, never changed;
 * - `missing`: a resource Silo created is gone or scheduled for deletion.
 */
export type FindingKind = 'repairable' | 'reported' | 'missing';
export type FindingSeverity = 'warning' | 'critical';

export const FINDING_KINDS: readonly FindingKind[] = ['repairable', 'reported', 'missing'];
export const FINDING_SEVERITIES: readonly FindingSeverity[] = ['warning', 'critical'];

/** One way a tenant's (or a shared host's) resources differ from its tier profile and Silo's records. */
export interface Finding {
  /** `instance…`, `secret:<master|app|pool-app>…`, `alarm:<metric>…` or (hosts) `host.…`; unique per tenant or host. */
  field: string;
  kind: FindingKind;
  severity: FindingSeverity;
  expected: string;
  found: string;
}

/** What a pass does to put repairable findings right: one AWS call each. */
export type Repair =
  | { kind: 'instance-protection'; identifier: string; settings: InstanceProtection; fields: string[] }
  | { kind: 'instance-tags'; arn: string; tags: Record<string, string>; fields: string[] }
  | { kind: 'secret-tags'; name: string; tags: Record<string, string>; fields: string[] }
  | { kind: 'alarm'; spec: AlarmSpec; fields: string[] };

export interface TenantDrift {
  findings: Finding[];
  repairs: Repair[];
}

/** The part of a finding's field before the first `.` or `:`: what a pass checked (`host` only on hosts). */
export function findingScope(field: string): 'instance' | 'secret' | 'alarm' | 'host' {
  return field.split(/[.:]/)[0] as 'instance' | 'secret' | 'alarm' | 'host';
}

const ABSENT = '(absent)';

/**
 * Compares an instance with the tier profile. `instance` is undefined when RDS no longer knows
 * it. The KMS key is compared only when one is configured and is not an alias (an alias cannot
 * be compared with the key ARN RDS reports without asking KMS). The parameter group is Silo's for
 * the instance's engine family (`<prefix>-postgres<major>`, the profile's version when RDS does
 * not say), applied (`in-sync`).
 */
export function instanceDrift(
  instance: FleetInstance | undefined,
  expected: {
    identifier: string;
    profile: TierProfile;
    tags: Record<string, string>;
    kmsKeyId?: string;
    /** The resource prefix Silo's parameter group is named after. */
    prefix: string;
    /** Engine versions RDS says are deprecated (no new instance is made with them): reported. */
    deprecatedEngineVersions?: ReadonlySet<string>;
  },
): TenantDrift {
  if (!instance || instance.status === 'deleting') return missingInstance(instance, expected.identifier);
  const { profile } = expected;
  const findings: Finding[] = [];
  const repairs: Repair[] = [];

  const protection: InstanceProtection = {};
  const protectionFields: string[] = [];
  const repairable = <K extends keyof InstanceProtection>(
    field: string,
    key: K,
    want: NonNullable<InstanceProtection[K]>,
    found: NonNullable<InstanceProtection[K]>,
  ) => {
    if (want === found) return;
    findings.push({
      field,
      kind: 'repairable',
      severity: 'warning',
      expected: String(want),
      found: String(found),
    });
    protection[key] = want;
    protectionFields.push(field);
  };
  repairable(
    'instance.deletionProtection',
    'deletionProtection',
    profile.deletionProtection,
    instance.deletionProtection,
  );
  repairable(
    'instance.backupRetentionDays',
    'backupRetentionDays',
    profile.backupRetentionDays,
    instance.backupRetentionDays,
  );
  repairable('instance.copyTagsToSnapshot', 'copyTagsToSnapshot', true, instance.copyTagsToSnapshot);
  if (protectionFields.length) {
    repairs.push({
      kind: 'instance-protection',
      identifier: instance.identifier,
      settings: protection,
      fields: protectionFields,
    });
  }

  const tagDrift = instanceTagDrift(instance, expected.tags);
  findings.push(...tagDrift.findings);
  repairs.push(...tagDrift.repairs);

  const reported = (field: string, want: string, found: string, severity: FindingSeverity = 'warning') => {
    if (want !== found) findings.push({ field, kind: 'reported', severity, expected: want, found });
  };
  reported('instance.class', profile.instanceClass, instance.instanceClass);
  if (instance.allocatedStorageGiB < profile.storage.allocatedGiB) {
    findings.push({
      field: 'instance.allocatedStorageGiB',
      kind: 'reported',
      severity: 'warning',
      expected: `>= ${profile.storage.allocatedGiB}`,
      found: String(instance.allocatedStorageGiB),
    });
  }
  reported('instance.multiAz', String(profile.multiAz), String(instance.multiAz));
  reported('instance.storageEncrypted', 'true', String(instance.storageEncrypted), 'critical');
  reported('instance.publiclyAccessible', 'false', String(instance.publiclyAccessible), 'critical');
  const key = expected.kmsKeyId;
  if (key && !key.startsWith('alias/') && !sameKmsKey(key, instance.kmsKeyId)) {
    findings.push({
      field: 'instance.kmsKeyId',
      kind: 'reported',
      severity: 'warning',
      expected: key,
      found: instance.kmsKeyId ?? ABSENT,
    });
  }
  const group = parameterGroupDrift(instance, expected.prefix, profile.engineVersion);
  if (group) findings.push(group);
  if (instance.engineVersion && expected.deprecatedEngineVersions?.has(instance.engineVersion))
    findings.push({
      field: 'instance.engineVersion',
      kind: 'reported',
      severity: 'warning',
      expected: 'a version RDS offers for new instances (upgrade the minor in a maintenance window)',
      found: `${instance.engineVersion} (deprecated)`,
    });
  return { findings, repairs };
}

/**
 * The engine versions of `instances` that RDS says are deprecated, one DescribeDBEngineVersions
 * per distinct version (cached by the adapter). None where RDS cannot be asked.
 */
export async function deprecatedEngineVersions(
  versions: { status(version: string): Promise<EngineVersionStatus> } | undefined,
  instances: readonly Pick<FleetInstance, 'engineVersion'>[],
): Promise<Set<string>> {
  const deprecated = new Set<string>();
  if (!versions) return deprecated;
  for (const version of new Set(instances.map((i) => i.engineVersion).filter(Boolean)))
    if ((await versions.status(version)).status === 'deprecated') deprecated.add(version);
  return deprecated;
}

/**
 * Reported, never repaired: joining a group (ModifyDBInstance with DBParameterGroupName) takes
 * its static `rds.logical_replication` only at a reboot, which is the operator's to schedule. A
 * group Silo's but not applied yet (`pending-reboot` after joining, or after Silo set the
 * parameter in a group instances were already in) is a finding until the instance reboots.
 */
function parameterGroupDrift(
  instance: FleetInstance,
  prefix: string,
  profileEngineVersion: string,
): Finding | null {
  const want = parameterGroupName(prefix, instance.engineVersion || profileEngineVersion);
  const found =
    instance.parameterGroups
      .map((g) => (g.applyStatus === 'in-sync' ? g.name : `${g.name} (${g.applyStatus})`))
      .join(',') || ABSENT;
  if (found === want) return null;
  return { field: 'instance.parameterGroup', kind: 'reported', severity: 'warning', expected: want, found };
}

/**
 * Only that the instance is there and tagged as Silo tagged it: gone or being deleted is
 * critical, a tag Silo set that differs is put back (the whole set).
 */
export function instancePresenceDrift(
  instance: FleetInstance | undefined,
  expected: { identifier: string; tags: Record<string, string> },
): TenantDrift {
  if (!instance || instance.status === 'deleting') return missingInstance(instance, expected.identifier);
  return instanceTagDrift(instance, expected.tags);
}

function missingInstance(instance: FleetInstance | undefined, identifier: string): TenantDrift {
  return {
    findings: [
      {
        field: 'instance',
        kind: 'missing',
        severity: 'critical',
        expected: identifier,
        found: instance ? 'deleting' : ABSENT,
      },
    ],
    repairs: [],
  };
}

function instanceTagDrift(instance: FleetInstance, tags: Record<string, string>): TenantDrift {
  const tagDrift = tagFindings('instance', instance.tags, tags);
  return {
    findings: tagDrift.findings,
    repairs: tagDrift.missing
      ? [{ kind: 'instance-tags', arn: instance.arn, tags: tagDrift.missing, fields: tagDrift.fields }]
      : [],
  };
}

/** A tenant's or host's secret: gone or scheduled for deletion is critical; Silo's tags are put back. */
export function secretDrift(
  role: 'master' | 'app' | 'pool-app',
  name: string,
  secret: FleetSecret | undefined,
  tags: Record<string, string>,
): TenantDrift {
  const field = `secret:${role}`;
  if (!secret || secret.deletedDate) {
    return {
      findings: [
        {
          field,
          kind: 'missing',
          severity: 'critical',
          expected: name,
          found: secret?.deletedDate
            ? `scheduled for deletion (${secret.deletedDate.toISOString()})`
            : ABSENT,
        },
      ],
      repairs: [],
    };
  }
  const tagDrift = tagFindings(field, secret.tags, tags);
  return {
    findings: tagDrift.findings,
    repairs: tagDrift.missing
      ? [{ kind: 'secret-tags', name: secret.arn, tags: tagDrift.missing, fields: tagDrift.fields }]
      : [],
  };
}

/** An alarm against its spec: gone, or differing in metric, threshold, dimensions or actions. */
export function alarmDrift(spec: AlarmSpec, alarm: FleetAlarm | undefined): TenantDrift {
  const field = `alarm:${spec.metric}`;
  if (!alarm) {
    return {
      findings: [{ field, kind: 'repairable', severity: 'warning', expected: spec.name, found: ABSENT }],
      repairs: [{ kind: 'alarm', spec, fields: [field] }],
    };
  }
  const actions = [...spec.actions].sort().join(',');
  const compared: [string, string, string][] = [
    ['namespace', ALARM_EVALUATION.namespace, alarm.namespace],
    ['metric', spec.metric, alarm.metric],
    ['statistic', ALARM_EVALUATION.statistic, alarm.statistic],
    ['period', String(ALARM_EVALUATION.periodSeconds), String(alarm.period)],
    ['evaluationPeriods', String(ALARM_EVALUATION.evaluationPeriods), String(alarm.evaluationPeriods)],
    ['comparison', spec.comparison, alarm.comparison],
    ['threshold', String(spec.threshold), String(alarm.threshold)],
    ['dimensions', `DBInstanceIdentifier=${spec.instanceIdentifier}`, dimensions(alarm.dimensions)],
    ['actionsEnabled', String(spec.actions.length > 0), String(alarm.actionsEnabled)],
    ['alarmActions', actions || ABSENT, alarm.alarmActions.join(',') || ABSENT],
    ['okActions', actions || ABSENT, alarm.okActions.join(',') || ABSENT],
  ];
  const findings: Finding[] = compared
    .filter(([, want, found]) => want !== found)
    .map(([name, want, found]) => ({
      field: `${field}.${name}`,
      kind: 'repairable',
      severity: 'warning',
      expected: want,
      found,
    }));
  return {
    findings,
    repairs: findings.length ? [{ kind: 'alarm', spec, fields: findings.map((f) => f.field) }] : [],
  };
}

function tagFindings(
  scope: string,
  found: Record<string, string>,
  expected: Record<string, string>,
): { findings: Finding[]; missing: Record<string, string> | null; fields: string[] } {
  const findings: Finding[] = [];
  for (const [key, value] of Object.entries(expected)) {
    if (found[key] === value) continue;
    findings.push({
      field: `${scope}.tag:${key}`,
      kind: 'repairable',
      severity: 'warning',
      expected: value,
      found: found[key] ?? ABSENT,
    });
  }
  // The repair writes every Silo tag, not only those that differ: IAM lets the worker tag a
  // tenant resource only with the whole set (managed-by=silo and a tenant id among them).
  return {
    findings,
    missing: findings.length ? { ...expected } : null,
    fields: findings.map((f) => f.field),
  };
}

function dimensions(found: Record<string, string>): string {
  return (
    Object.entries(found)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || ABSENT
  );
}

/** A configured key (id or ARN) against the key ARN RDS reports. */
function sameKmsKey(configured: string, reported: string | null): boolean {
  if (!reported) return false;
  if (configured === reported) return true;
  const id = configured.includes(':key/') ? configured.slice(configured.indexOf(':key/') + 5) : configured;
  return reported.endsWith(`:key/${id}`) || reported === id;
}
