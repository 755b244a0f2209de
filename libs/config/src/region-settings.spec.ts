import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load-config';

const BASE = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/silo',
  REDIS_URL: 'redis://127.0.0.1:6379',
  AWS_REGION: 'eu-west-1',
  ALARM_SNS_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:silo-alarms',
};
const CENTRAL = {
  kmsKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  subnetGroup: 'silo-tenants',
  securityGroupIds: ['sg-0123456789abcdef0'],
  alarmTopicArn: 'arn:aws:sns:eu-central-1:123456789012:silo-alarms',
  exportBucket: 'acme-silo-exports-eu-central-1',
};

function settingsFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'silo-regions-')), 'regions.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ env, envFile: false });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.variable}: ${p.message}`);
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('regions in the configuration', () => {
  it('is the one region AWS_REGION names when SILO_REGIONS is unset, with the single-region settings', () => {
    const config = loadConfig({
      env: {
        ...BASE,
        KMS_KEY_ID: 'alias/silo',
        RDS_SUBNET_GROUP: 'tenants',
        TENANT_EXPORT_BUCKET: 'exports-a',
      },
      envFile: false,
    });
    expect(config.regions.default).toBe('eu-west-1');
    expect(config.regions.names).toEqual(['eu-west-1']);
    expect(config.region('eu-west-1')).toEqual({
      region: 'eu-west-1',
      kmsKeyId: 'alias/silo',
      subnetGroup: 'tenants',
      securityGroupIds: [],
      alarmTopicArn: BASE.ALARM_SNS_TOPIC_ARN,
      exportBucket: 'exports-a',
      localInstanceAdminUrl: undefined,
    });
    expect(config.tenants.kmsKeyId).toBe('alias/silo');
  });

  it('takes every other region from SILO_REGION_SETTINGS_FILE', () => {
    const config = loadConfig({
      env: {
        ...BASE,
        SILO_REGIONS: 'eu-west-1, eu-central-1',
        SILO_REGION_SETTINGS_FILE: settingsFile({ 'eu-central-1': CENTRAL }),
      },
      envFile: false,
    });
    expect(config.regions.names).toEqual(['eu-west-1', 'eu-central-1']);
    expect(config.region('eu-central-1')).toEqual({
      region: 'eu-central-1',
      ...CENTRAL,
      localInstanceAdminUrl: undefined,
    });
    expect(() => config.region('us-east-1')).toThrow(
      'region us-east-1 is not configured (SILO_REGIONS: eu-west-1, eu-central-1)',
    );
  });

  it('refuses SILO_REGIONS without AWS_REGION, a malformed or repeated name', () => {
    expect(
      problems({
        ...BASE,
        ALARM_ACTIONS: 'none',
        ALARM_SNS_TOPIC_ARN: '',
        SILO_REGIONS: 'eu-central-1,eu-central-1,Frankfurt',
      }),
    ).toEqual([
      'SILO_REGIONS: names eu-central-1 twice',
      'SILO_REGIONS: "Frankfurt" is not an AWS region such as eu-west-1 (comma-separated regions)',
      'SILO_REGIONS: must include AWS_REGION (eu-west-1): it is the region of a tenant that names none',
    ]);
  });

  it('names the region and the field of each bad entry of the settings file', () => {
    const file = settingsFile({
      'eu-central-1': {
        ...CENTRAL,
        kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
        securityGroupIds: ['sg-nope'],
        subnetGruop: 'typo',
      },
      'us-east-1': {},
    });
    expect(
      problems({ ...BASE, SILO_REGIONS: 'eu-west-1,eu-central-1', SILO_REGION_SETTINGS_FILE: file }),
    ).toEqual([
      'SILO_REGION_SETTINGS_FILE: eu-central-1.securityGroupIds.0: must be a security group id (sg-…)',
      'SILO_REGION_SETTINGS_FILE: eu-central-1.(entry): unknown field(s) subnetGruop',
      'SILO_REGION_SETTINGS_FILE: us-east-1: not in SILO_REGIONS (eu-west-1, eu-central-1); add it there or remove its entry',
      // eu-central-1's entry was refused, so it has no topic either
      "SILO_REGION_SETTINGS_FILE: eu-central-1.alarmTopicArn: is required against real AWS (AWS_EMULATOR unset): without it eu-central-1's tenant alarms notify nobody; set ALARM_ACTIONS=none to create them without actions on purpose",
    ]);
    const residency = settingsFile({
      'eu-central-1': {
        ...CENTRAL,
        kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
        alarmTopicArn: BASE.ALARM_SNS_TOPIC_ARN,
      },
    });
    expect(
      problems({ ...BASE, SILO_REGIONS: 'eu-west-1,eu-central-1', SILO_REGION_SETTINGS_FILE: residency }),
    ).toEqual([
      "SILO_REGION_SETTINGS_FILE: eu-central-1.kmsKeyId: is a key of eu-west-1, but encrypts eu-central-1's tenants: a key serves its own region only",
      'SILO_REGION_SETTINGS_FILE: eu-central-1.alarmTopicArn: is a topic of eu-west-1, but CloudWatch alarms in eu-central-1 notify topics of eu-central-1 only',
    ]);
  });

  it('refuses a missing or non-JSON file, and the default region set in two places', () => {
    expect(problems({ ...BASE, SILO_REGION_SETTINGS_FILE: '/nonexistent/regions.json' })).toEqual([
      'SILO_REGION_SETTINGS_FILE: file /nonexistent/regions.json does not exist',
    ]);
    expect(problems({ ...BASE, SILO_REGION_SETTINGS_FILE: settingsFile('{not json') })[0]).toMatch(
      /^SILO_REGION_SETTINGS_FILE: .*regions\.json is not JSON/,
    );
    const home = settingsFile({ 'eu-west-1': { alarmTopicArn: BASE.ALARM_SNS_TOPIC_ARN } });
    expect(problems({ ...BASE, SILO_REGION_SETTINGS_FILE: home })).toEqual([
      "ALARM_SNS_TOPIC_ARN: is set, but SILO_REGION_SETTINGS_FILE has an entry for eu-west-1 (AWS_REGION): set the default region's settings in one place",
    ]);
  });

  it('requires a topic per region against real AWS, and one bucket per region', () => {
    expect(problems({ ...BASE, SILO_REGIONS: 'eu-west-1,eu-central-1' })).toEqual([
      "SILO_REGION_SETTINGS_FILE: eu-central-1.alarmTopicArn: is required against real AWS (AWS_EMULATOR unset): without it eu-central-1's tenant alarms notify nobody; set ALARM_ACTIONS=none to create them without actions on purpose",
    ]);
    const shared = settingsFile({ 'eu-central-1': { ...CENTRAL, exportBucket: 'exports-a' } });
    expect(
      problems({
        ...BASE,
        TENANT_EXPORT_BUCKET: 'exports-a',
        SILO_REGIONS: 'eu-west-1,eu-central-1',
        SILO_REGION_SETTINGS_FILE: shared,
      }),
    ).toEqual([
      "SILO_REGION_SETTINGS_FILE: eu-central-1.exportBucket: exports-a is also eu-west-1's export bucket; a bucket lives in one region, so each region needs its own",
    ]);
  });

  it('gives the emulator one export bucket per region, the default region keeping its old name', () => {
    const config = loadConfig({
      env: {
        ...BASE,
        ALARM_SNS_TOPIC_ARN: '',
        AWS_EMULATOR: 'true',
        AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
        SILO_REGIONS: 'eu-west-1,eu-central-1',
      },
      envFile: false,
    });
    expect(config.region('eu-west-1').exportBucket).toBe('silo-exports');
    expect(config.region('eu-central-1').exportBucket).toBe('silo-exports-eu-central-1');
    expect(config.region('eu-central-1').alarmTopicArn).toBeUndefined();
  });

  it("keeps a region's shared hosts on another local server when LOCAL_HOST_ADMIN_URLS names one, else on its instances'", () => {
    const local = {
      ...BASE,
      SILO_REGIONS: 'eu-west-1,eu-central-1',
      ALARM_ACTIONS: 'none',
      ALARM_SNS_TOPIC_ARN: '',
      LOCAL_INSTANCE_ADMIN_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      LOCAL_INSTANCE_ADMIN_URLS: 'eu-central-1=postgres://postgres@127.0.0.1:5433/postgres',
    };
    const config = loadConfig({
      env: { ...local, LOCAL_HOST_ADMIN_URLS: 'eu-west-1=postgres://postgres@127.0.0.1:5434/postgres' },
      envFile: false,
    });
    expect(config.region('eu-west-1').localHostAdminUrl).toBe('postgres://postgres@127.0.0.1:5434/postgres');
    expect(config.region('eu-central-1').localHostAdminUrl).toBe(
      'postgres://postgres@127.0.0.1:5433/postgres',
    );
    expect(
      problems({ ...local, LOCAL_HOST_ADMIN_URLS: 'ap-south-1=postgres://a@h/p,eu-west-1=http://h' }),
    ).toEqual([
      'LOCAL_HOST_ADMIN_URLS: ap-south-1: not in SILO_REGIONS (eu-west-1, eu-central-1)',
      'LOCAL_HOST_ADMIN_URLS: eu-west-1: must be a URL starting with postgres:// or postgresql://',
    ]);
    const { LOCAL_INSTANCE_ADMIN_URL: _a, LOCAL_INSTANCE_ADMIN_URLS: _b, ...rds } = local;
    expect(problems({ ...rds, LOCAL_HOST_ADMIN_URLS: 'eu-west-1=postgres://a@h/p' })).toEqual([
      'LOCAL_HOST_ADMIN_URLS: is set without LOCAL_INSTANCE_ADMIN_URL: shared hosts are local only with the local backend',
    ]);
  });

  it('gives each region its local backend: its own from LOCAL_INSTANCE_ADMIN_URLS, else the default one', () => {
    const local = {
      ...BASE,
      SILO_REGIONS: 'eu-west-1,eu-central-1,eu-north-1',
      ALARM_ACTIONS: 'none',
      ALARM_SNS_TOPIC_ARN: '',
      LOCAL_INSTANCE_ADMIN_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
    };
    const config = loadConfig({
      env: {
        ...local,
        LOCAL_INSTANCE_ADMIN_URLS: 'eu-central-1=postgres://postgres@127.0.0.1:5433/postgres',
      },
      envFile: false,
    });
    expect(config.region('eu-west-1').localInstanceAdminUrl).toBe(local.LOCAL_INSTANCE_ADMIN_URL);
    expect(config.region('eu-central-1').localInstanceAdminUrl).toBe(
      'postgres://postgres@127.0.0.1:5433/postgres',
    );
    expect(config.region('eu-north-1').localInstanceAdminUrl).toBe(local.LOCAL_INSTANCE_ADMIN_URL);

    expect(
      problems({
        ...local,
        LOCAL_INSTANCE_ADMIN_URLS:
          'us-east-1=postgres://a@h/p,eu-central-1=mysql://secret@h/p,eu-west-1=postgres://other@h/p,junk',
      }),
    ).toEqual([
      'LOCAL_INSTANCE_ADMIN_URLS: us-east-1: not in SILO_REGIONS (eu-west-1, eu-central-1, eu-north-1)',
      'LOCAL_INSTANCE_ADMIN_URLS: eu-central-1: must be a URL starting with postgres:// or postgresql://',
      'LOCAL_INSTANCE_ADMIN_URLS: eu-west-1 is AWS_REGION, whose local backend is LOCAL_INSTANCE_ADMIN_URL: set it in one place',
      'LOCAL_INSTANCE_ADMIN_URLS: must be comma-separated <region>=<postgres URL> pairs',
    ]);
    const { LOCAL_INSTANCE_ADMIN_URL: _unused, ...withoutDefault } = local;
    expect(
      problems({ ...withoutDefault, LOCAL_INSTANCE_ADMIN_URLS: 'eu-central-1=postgres://a@h/p' }),
    ).toEqual([
      "LOCAL_INSTANCE_ADMIN_URLS: is set without LOCAL_INSTANCE_ADMIN_URL: the local backend is the default region's first (LOCAL_INSTANCE_ADMIN_URL), then other regions' own",
    ]);
  });
});
