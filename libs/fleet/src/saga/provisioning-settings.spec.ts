import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@silo/config';
import { TenantMigrationSetError } from '@silo/tenant-schema';
import { ProvisioningSettings } from './provisioning-settings';

const BASE = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/silo',
  REDIS_URL: 'redis://127.0.0.1:6379',
  AWS_REGION: 'us-east-1',
  ALARM_SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:silo-alarms',
};

describe('ProvisioningSettings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'silo-settings-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the built-in tenant migrations when no directory is configured', () => {
    const settings = new ProvisioningSettings(loadConfig({ env: BASE, envFile: false }));
    expect(settings.migrations.newest).toBe('0002');
    expect(settings.migrationTimeouts).toEqual({ lockTimeoutMs: 10_000, statementTimeoutMs: 1_800_000 });
  });

  it("pins each tier's engine version to what RDS resolved it to, in every region's settings", () => {
    const config = loadConfig({
      env: {
        ...BASE,
        ALARM_SNS_TOPIC_ARN: undefined,
        SILO_REGIONS: 'us-east-1,eu-west-1',
        ALARM_ACTIONS: 'none',
      },
      envFile: false,
    });
    const settings = new ProvisioningSettings(config);
    const other = settings.inRegion('eu-west-1');
    expect(settings.tiers.pro.engineVersion).toBe('17');
    settings.pinEngineVersions({ '17': '17.6' });
    expect(
      [settings.tiers.starter, settings.tiers.pro, settings.tiers.enterprise].map((t) => t.engineVersion),
    ).toEqual(['17.6', '17.6', '17.6']);
    expect(other.tiers.pro.engineVersion).toBe('17.6');
    // Everything else of the profile is kept.
    expect(settings.tiers.pro.placement).toBe('schema');
  });

  it('refuses to start with a migration set that has problems, naming each', () => {
    writeFileSync(join(dir, '0001_a.sql'), 'SELECT 1;');
    writeFileSync(join(dir, '001_b.sql'), 'SELECT 1;');
    writeFileSync(join(dir, 'x.sql'), 'SELECT 1;');
    const config = loadConfig({ env: { ...BASE, TENANT_MIGRATIONS_DIR: dir }, envFile: false });
    expect(() => new ProvisioningSettings(config)).toThrow(TenantMigrationSetError);
    expect(() => new ProvisioningSettings(config)).toThrow(
      /x\.sql: not a migration file name.*version 0001 is given twice/,
    );
  });
});
