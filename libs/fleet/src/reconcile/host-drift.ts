import type { FleetAlarm, FleetInstance, FleetSecret } from '@silo/aws';
import type { HostEntity } from '@silo/control-plane-db';
import { hostResourceNames, hostTags, isTierName } from '@silo/core';
import { hostAlarmSpecs } from '../hosts/host-alarm-specs';
import { alarmProfile } from '../saga/tenant-alarm-specs';
import { instanceClass, isSharedTierProfile, type SharedTierProfile, type TierProfiles } from '../tiers';
import {
  alarmDrift,
  instanceDrift,
  instancePresenceDrift,
  secretDrift,
  type Finding,
  type TenantDrift,
} from './drift';

/** What a host's drift is judged on: the host record's fields Silo derives its resources from. */
export type HostRecord = Pick<
  HostEntity,
  'id' | 'name' | 'placement' | 'tier' | 'instanceIdentifier' | 'capacityTenants' | 'connectionBudget'
>;

export interface HostDriftSettings {
  prefix: string;
  environment: string;
  tiers: TierProfiles;
  kmsKeyId?: string;
  alarmActions: readonly string[];
}

export interface HostDrift extends TenantDrift {
  /** The scopes of finding fields this check looked at (a finding of another scope is left as it is). */
  scopes: Set<string>;
}

/** The share of a class's `max_connections` a host's connection budget may take (as the tier profiles require). */
const BUDGET_SHARE = 0.8;

/**
 * Compares an available shared host with its record and its tier's profile: the instance (sized
 * by the profile's instance fields, encrypted, protected, backed up, tagged as the host's), the
 * record's capacity against the profile's and against the instance's class, the master secret
 * (and a pool host's pool-app secret), and, when `alarms` were read, its four alarms. A tier that
 * no longer places tenants on hosts of the host's placement is reported, and the host is then
 * checked only for what needs no profile: its instance and secrets being there, and their tags.
 */
export function hostDrift(
  host: HostRecord,
  found: {
    instance: FleetInstance | undefined;
    secrets: ReadonlyMap<string, FleetSecret>;
    /** Null when the pass did not read the host's alarms. */
    alarms: ReadonlyMap<string, FleetAlarm> | null;
    deprecatedEngineVersions?: ReadonlySet<string>;
  },
  settings: HostDriftSettings,
): HostDrift {
  const names = hostResourceNames(settings.prefix, host.name);
  const tags = hostTags(host, settings.environment);
  const profile = sharedProfile(settings.tiers, host);
  const findings: Finding[] = [];
  const drifts: TenantDrift[] = [];
  const scopes = new Set(['instance', 'secret', 'host']);

  if (host.instanceIdentifier !== names.instanceIdentifier) {
    findings.push({
      field: 'host.instanceIdentifier',
      kind: 'reported',
      severity: 'warning',
      expected: names.instanceIdentifier,
      found: host.instanceIdentifier,
    });
  }
  const { instance } = found;
  if (profile) {
    drifts.push(
      instanceDrift(instance, {
        identifier: names.instanceIdentifier,
        profile,
        tags,
        kmsKeyId: settings.kmsKeyId,
        prefix: settings.prefix,
        deprecatedEngineVersions: found.deprecatedEngineVersions,
      }),
    );
    findings.push(...capacityFindings(host, profile, instance));
  } else {
    findings.push({
      field: 'host.tier',
      kind: 'reported',
      severity: 'warning',
      expected: `a tier profile of ${host.tier} placing its tenants on ${host.placement} hosts`,
      found: isTierName(host.tier)
        ? `${host.tier} places on ${settings.tiers[host.tier].placement}`
        : 'no such tier',
    });
    drifts.push(instancePresenceDrift(instance, { identifier: names.instanceIdentifier, tags }));
  }

  drifts.push(secretDrift('master', names.masterSecretName, found.secrets.get(names.masterSecretName), tags));
  if (host.placement === 'pool') {
    drifts.push(
      secretDrift('pool-app', names.poolAppSecretName, found.secrets.get(names.poolAppSecretName), tags),
    );
  }

  if (profile && found.alarms && instance && instance.status !== 'deleting') {
    scopes.add('alarm');
    const specs = hostAlarmSpecs(names, alarmProfile(profile, instance.allocatedStorageGiB), {
      actions: settings.alarmActions,
      tags,
    });
    for (const spec of specs) drifts.push(alarmDrift(spec, found.alarms.get(spec.name)));
  }

  return {
    findings: [...findings, ...drifts.flatMap((d) => d.findings)],
    repairs: drifts.flatMap((d) => d.repairs),
    scopes,
  };
}

/** The tier's profile when it still places its tenants on hosts of the host's placement. */
function sharedProfile(tiers: TierProfiles, host: HostRecord): SharedTierProfile | undefined {
  const profile = isTierName(host.tier) ? tiers[host.tier] : undefined;
  return profile && isSharedTierProfile(profile) && profile.placement === host.placement
    ? profile
    : undefined;
}

/**
 * A host keeps the capacity it was made with: a profile that now says otherwise is reported, so
 * that an operator sees which hosts a new capacity does not reach. A connection budget past 80 %
 * of the instance class's `max_connections` (its class changed under it) is reported too, and is
 * critical once past all of them: the tenants' pools may then hold more than the host accepts.
 */
function capacityFindings(
  host: HostRecord,
  profile: SharedTierProfile,
  instance: FleetInstance | undefined,
): Finding[] {
  const findings: Finding[] = [];
  const compare = (field: string, recorded: number, wanted: number, name: string) => {
    if (recorded === wanted) return;
    findings.push({
      field,
      kind: 'reported',
      severity: 'warning',
      expected: `${wanted} (the tier profile's capacity.${name})`,
      found: `${recorded} (recorded when the host was made)`,
    });
  };
  compare('host.capacity.tenants', host.capacityTenants, profile.capacity.tenantsPerHost, 'tenantsPerHost');
  compare(
    'host.capacity.connectionBudget',
    host.connectionBudget,
    profile.capacity.connectionBudget,
    'connectionBudget',
  );
  const cls = instance && instance.status !== 'deleting' ? instanceClass(instance.instanceClass) : undefined;
  if (cls) {
    const limit = Math.floor(cls.maxConnections * BUDGET_SHARE);
    if (host.connectionBudget > limit) {
      findings.push({
        field: 'host.connectionBudget',
        kind: 'reported',
        severity: host.connectionBudget > cls.maxConnections ? 'critical' : 'warning',
        expected: `<= ${limit} (80% of max_connections ${cls.maxConnections} of ${cls.name})`,
        found: String(host.connectionBudget),
      });
    }
  }
  return findings;
}
