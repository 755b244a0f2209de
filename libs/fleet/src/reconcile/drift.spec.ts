import type { FleetAlarm, FleetInstance, FleetSecret } from '@silo/aws';
import { tenantResourceNames, tenantTags } from '@silo/core';
import { tenantAlarmSpecs } from '../saga/tenant-alarm-specs';
import { DEFAULT_TIER_PROFILES } from '../tiers';
import { alarmDrift, deprecatedEngineVersions, findingScope, instanceDrift, secretDrift } from './drift';

const profile = DEFAULT_TIER_PROFILES.enterprise;
const tenant = { id: '6f1c0c55-63a4-4c7e-9d8b-2f1e3a4b5c6d', slug: 'acme-corp', tier: 'enterprise' };
const tags = tenantTags(tenant, 'prod');
const names = tenantResourceNames('silo', tenant.slug);
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:silo-alarms';

/** The instance exactly as provisioning leaves it. */
function asProvisioned(overrides: Partial<FleetInstance> = {}): FleetInstance {
  return {
    identifier: names.instanceIdentifier,
    arn: `arn:aws:rds:eu-west-1:123456789012:db:${names.instanceIdentifier}`,
    status: 'available',
    instanceClass: profile.instanceClass,
    allocatedStorageGiB: profile.storage.allocatedGiB,
    multiAz: profile.multiAz,
    storageEncrypted: true,
    kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    publiclyAccessible: false,
    deletionProtection: profile.deletionProtection,
    backupRetentionDays: profile.backupRetentionDays,
    copyTagsToSnapshot: true,
    engineVersion: profile.engineVersion,
    parameterGroups: [{ name: 'silo-postgres17', applyStatus: 'in-sync' }],
    tags: { ...tags, team: 'payments' },
    ...overrides,
  };
}
const expected = {
  identifier: names.instanceIdentifier,
  profile,
  tags,
  kmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
  prefix: 'silo',
};

describe('instanceDrift', () => {
  it('finds nothing on an instance as provisioned, whatever other tags it carries', () => {
    expect(instanceDrift(asProvisioned(), expected)).toEqual({ findings: [], repairs: [] });
  });

  it('repairs protection, retention and copy-tags in one ModifyDBInstance, naming each field', () => {
    const drift = instanceDrift(
      asProvisioned({ deletionProtection: false, backupRetentionDays: 3, copyTagsToSnapshot: false }),
      expected,
    );
    expect(drift.findings).toEqual([
      {
        field: 'instance.deletionProtection',
        kind: 'repairable',
        severity: 'warning',
        expected: 'true',
        found: 'false',
      },
      {
        field: 'instance.backupRetentionDays',
        kind: 'repairable',
        severity: 'warning',
        expected: '35',
        found: '3',
      },
      {
        field: 'instance.copyTagsToSnapshot',
        kind: 'repairable',
        severity: 'warning',
        expected: 'true',
        found: 'false',
      },
    ]);
    expect(drift.repairs).toEqual([
      {
        kind: 'instance-protection',
        identifier: names.instanceIdentifier,
        settings: { deletionProtection: true, backupRetentionDays: 35, copyTagsToSnapshot: true },
        fields: [
          'instance.deletionProtection',
          'instance.backupRetentionDays',
          'instance.copyTagsToSnapshot',
        ],
      },
    ]);
  });

  it('puts back a stripped or changed Silo tag by writing the whole set (IAM allows only that)', () => {
    const { 'silo:tier': _tier, ...stripped } = tags;
    const drift = instanceDrift(asProvisioned({ tags: { ...stripped, 'managed-by': 'someone' } }), expected);
    expect(drift.findings.map((f) => [f.field, f.expected, f.found])).toEqual([
      ['instance.tag:silo:tier', 'enterprise', '(absent)'],
      ['instance.tag:managed-by', 'silo', 'someone'],
    ]);
    expect(drift.repairs).toEqual([
      {
        kind: 'instance-tags',
        arn: asProvisioned().arn,
        tags,
        fields: ['instance.tag:silo:tier', 'instance.tag:managed-by'],
      },
    ]);
  });

  it('reports class, smaller storage, Multi-AZ, encryption, KMS key and public access without repairing them', () => {
    const drift = instanceDrift(
      asProvisioned({
        instanceClass: 'db.r6g.large',
        allocatedStorageGiB: 400,
        multiAz: false,
        storageEncrypted: false,
        kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/other',
        publiclyAccessible: true,
      }),
      expected,
    );
    expect(drift.repairs).toEqual([]);
    expect(drift.findings.map((f) => [f.field, f.kind, f.severity, f.expected, f.found])).toEqual([
      ['instance.class', 'reported', 'warning', 'db.m6i.large', 'db.r6g.large'],
      ['instance.allocatedStorageGiB', 'reported', 'warning', '>= 500', '400'],
      ['instance.multiAz', 'reported', 'warning', 'true', 'false'],
      ['instance.storageEncrypted', 'reported', 'critical', 'true', 'false'],
      ['instance.publiclyAccessible', 'reported', 'critical', 'false', 'true'],
      [
        'instance.kmsKeyId',
        'reported',
        'warning',
        expected.kmsKeyId,
        'arn:aws:kms:eu-west-1:123456789012:key/other',
      ],
    ]);
  });

  it('takes storage grown by autoscaling as fine, and does not compare a KMS alias it cannot resolve', () => {
    expect(
      instanceDrift(asProvisioned({ allocatedStorageGiB: 800, kmsKeyId: 'arn:x:key/any' }), {
        ...expected,
        kmsKeyId: 'alias/silo-tenants',
      }).findings,
    ).toEqual([]);
  });

  it("reports an instance outside Silo's parameter group, and never repairs it (joining one needs a reboot)", () => {
    const drift = instanceDrift(
      asProvisioned({ parameterGroups: [{ name: 'default.postgres17', applyStatus: 'in-sync' }] }),
      expected,
    );
    expect(drift).toEqual({
      findings: [
        {
          field: 'instance.parameterGroup',
          kind: 'reported',
          severity: 'warning',
          expected: 'silo-postgres17',
          found: 'default.postgres17',
        },
      ],
      repairs: [],
    });
  });

  it("reports Silo's group until it is applied: pending-reboot after joining it, and none at all", () => {
    const found = (parameterGroups: FleetInstance['parameterGroups']) =>
      instanceDrift(asProvisioned({ parameterGroups }), expected).findings.map((f) => [
        f.field,
        f.expected,
        f.found,
      ]);
    expect(found([{ name: 'silo-postgres17', applyStatus: 'pending-reboot' }])).toEqual([
      ['instance.parameterGroup', 'silo-postgres17', 'silo-postgres17 (pending-reboot)'],
    ]);
    expect(found([])).toEqual([['instance.parameterGroup', 'silo-postgres17', '(absent)']]);
  });

  it("expects the group of the instance's own engine family, the profile's only when RDS does not say", () => {
    const upgraded = asProvisioned({
      engineVersion: '18.1',
      parameterGroups: [{ name: 'silo-postgres17', applyStatus: 'in-sync' }],
    });
    expect(instanceDrift(upgraded, expected).findings).toEqual([
      expect.objectContaining({ field: 'instance.parameterGroup', expected: 'silo-postgres18' }),
    ]);
    expect(instanceDrift(asProvisioned({ engineVersion: '' }), expected).findings).toEqual([]);
    expect(
      instanceDrift(
        asProvisioned({ parameterGroups: [{ name: 'test-postgres17', applyStatus: 'in-sync' }] }),
        {
          ...expected,
          prefix: 'test',
        },
      ).findings,
    ).toEqual([]);
  });

  it('reports an instance on an engine version RDS has deprecated, never repairing it', () => {
    const on = asProvisioned({
      engineVersion: '16.4',
      parameterGroups: [{ name: 'silo-postgres16', applyStatus: 'in-sync' }],
    });
    expect(instanceDrift(on, { ...expected, deprecatedEngineVersions: new Set(['16.4']) }).findings).toEqual([
      {
        field: 'instance.engineVersion',
        kind: 'reported',
        severity: 'warning',
        expected: 'a version RDS offers for new instances (upgrade the minor in a maintenance window)',
        found: '16.4 (deprecated)',
      },
    ]);
    expect(instanceDrift(on, { ...expected, deprecatedEngineVersions: new Set(['16.3']) }).findings).toEqual(
      [],
    );
  });

  it('asks RDS once per distinct engine version of the fleet for the deprecated ones, and none without a way to ask', async () => {
    const asked: string[] = [];
    const versions = {
      status: (version: string) => {
        asked.push(version);
        return Promise.resolve(
          version === '16.4'
            ? { version, status: 'deprecated' as const }
            : { version, status: 'available' as const, resolved: version },
        );
      },
    };
    const fleet = [
      { engineVersion: '16.4' },
      { engineVersion: '17.6' },
      { engineVersion: '16.4' },
      { engineVersion: '' },
    ];
    expect(await deprecatedEngineVersions(versions, fleet)).toEqual(new Set(['16.4']));
    expect(asked).toEqual(['16.4', '17.6']);
    expect(await deprecatedEngineVersions(undefined, fleet)).toEqual(new Set());
  });

  it('is critical when the instance is gone or being deleted, and checks nothing else', () => {
    for (const [instance, found] of [
      [undefined, '(absent)'],
      [asProvisioned({ status: 'deleting', deletionProtection: false }), 'deleting'],
    ] as const) {
      expect(instanceDrift(instance, expected)).toEqual({
        findings: [
          {
            field: 'instance',
            kind: 'missing',
            severity: 'critical',
            expected: names.instanceIdentifier,
            found,
          },
        ],
        repairs: [],
      });
    }
  });
});

describe('secretDrift', () => {
  const secret = (overrides: Partial<FleetSecret> = {}): FleetSecret => ({
    name: names.masterSecretName,
    arn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${names.masterSecretName}-AbCdEf`,
    deletedDate: null,
    tags,
    ...overrides,
  });

  it('finds nothing on a tagged secret, repairs its tags, and is critical when it is gone or scheduled for deletion', () => {
    expect(secretDrift('master', names.masterSecretName, secret(), tags)).toEqual({
      findings: [],
      repairs: [],
    });
    const retagged = secretDrift('master', names.masterSecretName, secret({ tags: {} }), tags);
    expect(retagged.findings).toHaveLength(Object.keys(tags).length);
    expect(retagged.repairs).toEqual([
      { kind: 'secret-tags', name: secret().arn, tags, fields: retagged.findings.map((f) => f.field) },
    ]);
    expect(secretDrift('app', names.appSecretName, undefined, tags).findings).toEqual([
      {
        field: 'secret:app',
        kind: 'missing',
        severity: 'critical',
        expected: names.appSecretName,
        found: '(absent)',
      },
    ]);
    const scheduled = secretDrift(
      'master',
      names.masterSecretName,
      secret({ deletedDate: new Date('2026-12-09T00:00:00Z') }),
      tags,
    );
    expect(scheduled.findings[0]).toMatchObject({
      field: 'secret:master',
      kind: 'missing',
      found: 'scheduled for deletion (2026-12-09T00:00:00.000Z)',
    });
  });
});

describe('alarmDrift', () => {
  const [cpu] = tenantAlarmSpecs(names, profile, { actions: [TOPIC], tags });
  const alarm = (overrides: Partial<FleetAlarm> = {}): FleetAlarm => ({
    name: cpu.name,
    arn: `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${cpu.name}`,
    namespace: 'AWS/RDS',
    metric: 'CPUUtilization',
    comparison: 'GreaterThanThreshold',
    threshold: cpu.threshold,
    statistic: 'Average',
    period: 300,
    evaluationPeriods: 3,
    dimensions: { DBInstanceIdentifier: names.instanceIdentifier },
    actionsEnabled: true,
    alarmActions: [TOPIC],
    okActions: [TOPIC],
    ...overrides,
  });

  it('finds nothing on the alarm as Silo puts it', () => {
    expect(alarmDrift(cpu, alarm())).toEqual({ findings: [], repairs: [] });
  });

  it('puts back a missing alarm, and one whose threshold, dimensions or actions changed, with one PutMetricAlarm', () => {
    expect(alarmDrift(cpu, undefined)).toEqual({
      findings: [
        {
          field: 'alarm:CPUUtilization',
          kind: 'repairable',
          severity: 'warning',
          expected: cpu.name,
          found: '(absent)',
        },
      ],
      repairs: [{ kind: 'alarm', spec: cpu, fields: ['alarm:CPUUtilization'] }],
    });
    const changed = alarmDrift(
      cpu,
      alarm({ threshold: 99, dimensions: { DBInstanceIdentifier: 'other' }, okActions: [] }),
    );
    expect(changed.findings.map((f) => [f.field, f.expected, f.found])).toEqual([
      ['alarm:CPUUtilization.threshold', String(cpu.threshold), '99'],
      [
        'alarm:CPUUtilization.dimensions',
        `DBInstanceIdentifier=${names.instanceIdentifier}`,
        'DBInstanceIdentifier=other',
      ],
      ['alarm:CPUUtilization.okActions', TOPIC, '(absent)'],
    ]);
    expect(changed.repairs).toEqual([
      { kind: 'alarm', spec: cpu, fields: changed.findings.map((f) => f.field) },
    ]);
  });

  it('expects no actions when alarms are configured without any (ALARM_ACTIONS=none)', () => {
    const [quiet] = tenantAlarmSpecs(names, profile, { actions: [], tags });
    expect(
      alarmDrift(quiet, alarm({ actionsEnabled: false, alarmActions: [], okActions: [] })).findings,
    ).toEqual([]);
    expect(alarmDrift(quiet, alarm()).findings.map((f) => f.field)).toEqual([
      'alarm:CPUUtilization.actionsEnabled',
      'alarm:CPUUtilization.alarmActions',
      'alarm:CPUUtilization.okActions',
    ]);
  });
});

describe('findingScope', () => {
  it('names what a pass must have checked to clear the finding', () => {
    expect(
      [
        'instance',
        'instance.class',
        'secret:app',
        'secret:master.tag:x',
        'alarm:CPUUtilization.threshold',
      ].map(findingScope),
    ).toEqual(['instance', 'instance', 'secret', 'secret', 'alarm']);
  });
});
