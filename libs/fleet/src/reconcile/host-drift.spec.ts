import type { FleetAlarm, FleetInstance, FleetSecret } from '@silo/aws';
import { hostResourceNames, hostTags } from '@silo/core';
import { hostAlarmSpecs } from '../hosts/host-alarm-specs';
import { DEFAULT_TIER_PROFILES, type SharedTierProfile, type TierProfiles } from '../tiers';
import { hostDrift, type HostRecord } from './host-drift';

const profile = DEFAULT_TIER_PROFILES.starter as SharedTierProfile;
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:silo-alarms';
const host: HostRecord = {
  id: '7a2d0c55-63a4-4c7e-9d8b-2f1e3a4b5c6d',
  name: 'pool-starter-001',
  placement: 'pool',
  tier: 'starter',
  instanceIdentifier: 'silo-host-pool-starter-001',
  capacityTenants: profile.capacity.tenantsPerHost,
  connectionBudget: profile.capacity.connectionBudget,
};
const names = hostResourceNames('silo', host.name);
const tags = hostTags(host, 'prod');
const settings = {
  prefix: 'silo',
  environment: 'prod',
  tiers: DEFAULT_TIER_PROFILES,
  alarmActions: [TOPIC],
};

/** The host's instance exactly as its create saga leaves it. */
function instance(overrides: Partial<FleetInstance> = {}): FleetInstance {
  return {
    identifier: names.instanceIdentifier,
    arn: `arn:aws:rds:eu-west-1:123456789012:db:${names.instanceIdentifier}`,
    status: 'available',
    instanceClass: profile.instanceClass,
    allocatedStorageGiB: profile.storage.allocatedGiB,
    multiAz: profile.multiAz,
    storageEncrypted: true,
    kmsKeyId: null,
    publiclyAccessible: false,
    deletionProtection: profile.deletionProtection,
    backupRetentionDays: profile.backupRetentionDays,
    copyTagsToSnapshot: true,
    engineVersion: profile.engineVersion,
    parameterGroups: [{ name: 'silo-postgres17', applyStatus: 'in-sync' }],
    tags: { ...tags },
    ...overrides,
  };
}

function secrets(...skip: string[]): Map<string, FleetSecret> {
  return new Map(
    [names.masterSecretName, names.poolAppSecretName]
      .filter((n) => !skip.includes(n))
      .map((name) => [name, { name, arn: `arn:secret:${name}`, deletedDate: null, tags: { ...tags } }]),
  );
}

/** The four alarms as the create saga puts them, as DescribeAlarms answers them. */
function alarms(change: (a: FleetAlarm) => FleetAlarm | null = (a) => a): Map<string, FleetAlarm> {
  const out = new Map<string, FleetAlarm>();
  for (const spec of hostAlarmSpecs(names, profile, { actions: [TOPIC], tags })) {
    const alarm = change({
      name: spec.name,
      arn: `arn:alarm:${spec.name}`,
      namespace: 'AWS/RDS',
      metric: spec.metric,
      comparison: spec.comparison,
      threshold: spec.threshold,
      statistic: 'Average',
      period: 300,
      evaluationPeriods: 3,
      dimensions: { DBInstanceIdentifier: names.instanceIdentifier },
      actionsEnabled: true,
      alarmActions: [TOPIC],
      okActions: [TOPIC],
    });
    if (alarm) out.set(alarm.name, alarm);
  }
  return out;
}

describe('hostDrift', () => {
  it('finds nothing on a host as its saga made it, and says it looked at its instance, secrets, record and alarms', () => {
    const drift = hostDrift(host, { instance: instance(), secrets: secrets(), alarms: alarms() }, settings);
    expect(drift.findings).toEqual([]);
    expect(drift.repairs).toEqual([]);
    expect([...drift.scopes].sort()).toEqual(['alarm', 'host', 'instance', 'secret']);
  });

  it('repairs protection and the host’s own tags, reports class, Multi-AZ and encryption against the tier’s host sizing', () => {
    const drift = hostDrift(
      host,
      {
        instance: instance({
          deletionProtection: false,
          backupRetentionDays: 1,
          instanceClass: 'db.t4g.small',
          multiAz: false,
          storageEncrypted: false,
          tags: { ...tags, 'silo:host-id': 'someone-else' },
        }),
        secrets: secrets(),
        alarms: alarms(),
      },
      settings,
    );
    expect(drift.findings.map((f) => [f.field, f.kind, f.severity, f.expected, f.found])).toEqual([
      [
        'host.connectionBudget',
        'reported',
        'warning',
        '<= 180 (80% of max_connections 225 of db.t4g.small)',
        '200',
      ],
      ['instance.deletionProtection', 'repairable', 'warning', 'true', 'false'],
      ['instance.backupRetentionDays', 'repairable', 'warning', '7', '1'],
      ['instance.tag:silo:host-id', 'repairable', 'warning', host.id, 'someone-else'],
      ['instance.class', 'reported', 'warning', 'db.t4g.medium', 'db.t4g.small'],
      ['instance.multiAz', 'reported', 'warning', 'true', 'false'],
      ['instance.storageEncrypted', 'reported', 'critical', 'true', 'false'],
    ]);
    expect(drift.repairs).toEqual([
      {
        kind: 'instance-protection',
        identifier: names.instanceIdentifier,
        settings: { deletionProtection: true, backupRetentionDays: 7 },
        fields: ['instance.deletionProtection', 'instance.backupRetentionDays'],
      },
      // The whole set of the host's tags, never a tenant's.
      { kind: 'instance-tags', arn: instance().arn, tags, fields: ['instance.tag:silo:host-id'] },
    ]);
  });

  it('calls a connection budget above the instance class’s max_connections critical', () => {
    const drift = hostDrift(
      host,
      { instance: instance({ instanceClass: 'db.t4g.micro' }), secrets: secrets(), alarms: alarms() },
      settings,
    );
    expect(drift.findings.find((f) => f.field === 'host.connectionBudget')).toEqual({
      field: 'host.connectionBudget',
      kind: 'reported',
      severity: 'critical',
      expected: '<= 89 (80% of max_connections 112 of db.t4g.micro)',
      found: '200',
    });
  });

  it('reports a recorded capacity the tier profile no longer says', () => {
    const drift = hostDrift(
      { ...host, capacityTenants: 50, connectionBudget: 100 },
      { instance: instance(), secrets: secrets(), alarms: alarms() },
      settings,
    );
    expect(drift.findings).toEqual([
      {
        field: 'host.capacity.tenants',
        kind: 'reported',
        severity: 'warning',
        expected: "1000 (the tier profile's capacity.tenantsPerHost)",
        found: '50 (recorded when the host was made)',
      },
      {
        field: 'host.capacity.connectionBudget',
        kind: 'reported',
        severity: 'warning',
        expected: "200 (the tier profile's capacity.connectionBudget)",
        found: '100 (recorded when the host was made)',
      },
    ]);
  });

  it('calls a missing instance, master or pool-app secret critical; a schema host has no pool-app secret to miss', () => {
    const gone = hostDrift(
      host,
      { instance: undefined, secrets: secrets(names.poolAppSecretName), alarms: new Map() },
      settings,
    );
    expect(gone.findings.map((f) => [f.field, f.kind, f.severity])).toEqual([
      ['instance', 'missing', 'critical'],
      ['secret:pool-app', 'missing', 'critical'],
    ]);
    // Without an instance there are no alarms to compare: open alarm findings stay as they are.
    expect(gone.scopes.has('alarm')).toBe(false);

    const pro = DEFAULT_TIER_PROFILES.pro as SharedTierProfile;
    const schemaHost = {
      ...host,
      name: 'schema-pro-001',
      placement: 'schema' as const,
      tier: 'pro',
      capacityTenants: pro.capacity.tenantsPerHost,
      connectionBudget: pro.capacity.connectionBudget,
    };
    const schemaNames = hostResourceNames('silo', schemaHost.name);
    const drift = hostDrift(
      { ...schemaHost, instanceIdentifier: schemaNames.instanceIdentifier },
      { instance: undefined, secrets: new Map(), alarms: null },
      settings,
    );
    expect(drift.findings.map((f) => [f.field, f.expected])).toEqual([
      ['instance', schemaNames.instanceIdentifier],
      ['secret:master', schemaNames.masterSecretName],
    ]);
  });

  it('puts back a deleted alarm and a changed threshold with the host’s spec', () => {
    const drift = hostDrift(
      host,
      {
        instance: instance(),
        secrets: secrets(),
        alarms: alarms((a) =>
          a.metric === 'CPUUtilization' ? null : a.metric === 'FreeableMemory' ? { ...a, threshold: 1 } : a,
        ),
      },
      settings,
    );
    expect(drift.findings.map((f) => [f.field, f.kind])).toEqual([
      ['alarm:CPUUtilization', 'repairable'],
      ['alarm:FreeableMemory.threshold', 'repairable'],
    ]);
    expect(
      drift.repairs.map((r) => (r.kind === 'alarm' ? [r.spec.name, r.spec.description] : r.kind)),
    ).toEqual([
      [names.alarmName('CPUUtilization'), expect.stringMatching(/^Host average CPU above/)],
      [names.alarmName('FreeableMemory'), expect.stringMatching(/^Host freeable memory below/)],
    ]);
  });

  it('does not compare alarms it did not read', () => {
    const drift = hostDrift(host, { instance: instance(), secrets: secrets(), alarms: null }, settings);
    expect(drift.findings).toEqual([]);
    expect(drift.scopes.has('alarm')).toBe(false);
  });

  it('reports a tier that no longer places tenants on hosts of the host’s placement, and still checks what needs no profile', () => {
    const tiers: TierProfiles = {
      ...DEFAULT_TIER_PROFILES,
      starter: { ...DEFAULT_TIER_PROFILES.enterprise, tier: 'starter' },
    };
    const drift = hostDrift(
      host,
      {
        instance: instance({ deletionProtection: false, tags: { ...tags, 'silo:tier': 'pro' } }),
        secrets: secrets(names.masterSecretName),
        alarms: alarms(() => null),
      },
      { ...settings, tiers },
    );
    expect(drift.findings.map((f) => [f.field, f.kind, f.expected, f.found])).toEqual([
      [
        'host.tier',
        'reported',
        'a tier profile of starter placing its tenants on pool hosts',
        'starter places on instance',
      ],
      ['instance.tag:silo:tier', 'repairable', 'starter', 'pro'],
      ['secret:master', 'missing', names.masterSecretName, '(absent)'],
    ]);
    expect(drift.scopes.has('alarm')).toBe(false);
  });

  it("reports a host's instance outside Silo's parameter group, or in it with a reboot pending, and repairs neither", () => {
    for (const [group, found] of [
      [{ name: 'default.postgres17', applyStatus: 'in-sync' }, 'default.postgres17'],
      [{ name: 'silo-postgres17', applyStatus: 'pending-reboot' }, 'silo-postgres17 (pending-reboot)'],
    ] as const) {
      const drift = hostDrift(
        host,
        { instance: instance({ parameterGroups: [group] }), secrets: secrets(), alarms: alarms() },
        settings,
      );
      expect(drift.findings).toEqual([
        {
          field: 'instance.parameterGroup',
          kind: 'reported',
          severity: 'warning',
          expected: 'silo-postgres17',
          found,
        },
      ]);
      expect(drift.repairs).toEqual([]);
    }
  });

  it('reports a recorded instance identifier other than the one its name gives', () => {
    const drift = hostDrift(
      { ...host, instanceIdentifier: 'silo-host-elsewhere' },
      { instance: instance(), secrets: secrets(), alarms: alarms() },
      settings,
    );
    expect(drift.findings).toEqual([
      {
        field: 'host.instanceIdentifier',
        kind: 'reported',
        severity: 'warning',
        expected: names.instanceIdentifier,
        found: 'silo-host-elsewhere',
      },
    ]);
  });
});
