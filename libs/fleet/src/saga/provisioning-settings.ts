import { Injectable } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { loadTenantMigrations, type TenantMigrationSet } from '@silo/tenant-schema';
import { loadTierProfiles, type TierProfiles } from '../tiers';

/** Configuration the sagas need, with the tier profiles loaded and validated once. */
@Injectable()
export class ProvisioningSettings {
  /**
   * The region these settings are for: `kmsKeyId`, `subnetGroup`, `securityGroupIds` and
   * `alarmActions` are its own. The injected settings are the default region's; a saga working
   * on a tenant or host of another region uses {@link inRegion}.
   */
  readonly region: string;
  /** Every configured region (SILO_REGIONS), and the default one (AWS_REGION). */
  readonly regions: readonly string[];
  readonly defaultRegion: string;
  /** The tier profiles, their engine versions pinned by {@link pinEngineVersions} once RDS was asked. */
  get tiers(): TierProfiles {
    return this.profiles;
  }
  private profiles: TierProfiles;
  readonly prefix: string;
  readonly environment: string;
  readonly databaseName: string;
  readonly kmsKeyId?: string;
  readonly subnetGroup?: string;
  readonly securityGroupIds: readonly string[];
  readonly alarmActions: readonly string[];
  readonly secretRecoveryWindowDays: number;
  /** How long a deleted shared tenant's data export is kept (its `silo:retain-until`). */
  readonly exportRetentionDays: number;
  /** How long a credential rotation keeps the previous app login after the secret moved. */
  readonly rotationDrainMs: number;
  readonly deadlineMs: number;
  readonly stepMaxAttempts: number;
  readonly retry: { baseDelayMs: number; maxDelayMs: number };
  readonly wait: { initialDelayMs: number; maxDelayMs: number };
  /** The tenant schema's migrations, loaded and validated once (a bad set stops the process at boot). */
  readonly migrations: TenantMigrationSet;
  readonly migrationTimeouts: { lockTimeoutMs: number; statementTimeoutMs: number };

  private readonly byRegion = new Map<string, ProvisioningSettings>();

  constructor(
    private readonly config: SiloConfig,
    tiers?: TierProfiles,
    migrations?: TenantMigrationSet,
    region: string = config.regions.default,
  ) {
    const here = config.region(region);
    this.region = region;
    this.regions = config.regions.names;
    this.defaultRegion = config.regions.default;
    this.profiles = tiers ?? loadTierProfiles(config.tenants.tierProfilesFile);
    const { dir, module, lockTimeoutMs, statementTimeoutMs } = config.tenants.migrations;
    this.migrations = migrations ?? loadTenantMigrations({ dir, module });
    this.migrationTimeouts = { lockTimeoutMs, statementTimeoutMs };
    this.prefix = config.resources.prefix;
    this.environment = config.resources.environment;
    this.databaseName = config.tenants.databaseName;
    this.kmsKeyId = here.kmsKeyId;
    this.subnetGroup = here.subnetGroup;
    this.securityGroupIds = here.securityGroupIds;
    // Both ALARM and OK notify the region's own topic (CloudWatch notifies topics of its region
    // only); ALARM_ACTIONS=none (or an emulator without a topic) none.
    this.alarmActions =
      config.tenants.alarmActions === 'sns' && here.alarmTopicArn ? [here.alarmTopicArn] : [];
    this.secretRecoveryWindowDays = config.tenants.secretRecoveryWindowDays;
    this.exportRetentionDays = config.tenants.exports.retentionDays;
    this.rotationDrainMs = config.worker.rotation.drainMs;
    this.deadlineMs = config.worker.deadlineMs;
    this.stepMaxAttempts = config.worker.stepMaxAttempts;
    this.retry = config.worker.retry;
    this.wait = config.worker.wait;
  }

  /**
   * Each tier's `engineVersion` as RDS resolved it (`resolved`: a major to RDS's default minor of
   * it, at the worker's start), so that every instance is created with a version RDS named
   * rather than one it would have to pick. Versions RDS was not asked about stay as they are.
   */
  pinEngineVersions(resolved: Readonly<Record<string, string>>): void {
    this.profiles = Object.fromEntries(
      Object.entries(this.profiles).map(([tier, profile]) => [
        tier,
        { ...profile, engineVersion: resolved[profile.engineVersion] ?? profile.engineVersion },
      ]),
    ) as TierProfiles;
    for (const settings of this.byRegion.values()) settings.pinEngineVersions(resolved);
  }

  /** The same settings with `region`'s key, network and alarm topic (made once per region). */
  inRegion(region: string): ProvisioningSettings {
    if (region === this.region) return this;
    let settings = this.byRegion.get(region);
    if (!settings) {
      settings = new ProvisioningSettings(this.config, this.tiers, this.migrations, region);
      this.byRegion.set(region, settings);
    }
    return settings;
  }
}
