import { Injectable } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { loadTenantMigrations, type TenantMigrationSet } from '@silo/tenant-schema';
import { loadTierProfiles, type TierProfiles } from '../tiers';

/** Configuration the sagas need, with the tier profiles loaded and validated once. */
@Injectable()
export class ProvisioningSettings {
  readonly tiers: TierProfiles;
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

  constructor(config: SiloConfig, tiers?: TierProfiles, migrations?: TenantMigrationSet) {
    this.tiers = tiers ?? loadTierProfiles(config.tenants.tierProfilesFile);
    const { dir, module, lockTimeoutMs, statementTimeoutMs } = config.tenants.migrations;
    this.migrations = migrations ?? loadTenantMigrations({ dir, module });
    this.migrationTimeouts = { lockTimeoutMs, statementTimeoutMs };
    this.prefix = config.resources.prefix;
    this.environment = config.resources.environment;
    this.databaseName = config.tenants.databaseName;
    this.kmsKeyId = config.tenants.kmsKeyId;
    this.subnetGroup = config.tenants.subnetGroup;
    this.securityGroupIds = config.tenants.securityGroupIds;
    // Both ALARM and OK notify the topic; ALARM_ACTIONS=none (or an emulator without a topic) none.
    this.alarmActions =
      config.tenants.alarmActions === 'sns' && config.tenants.alarmTopicArn
        ? [config.tenants.alarmTopicArn]
        : [];
    this.secretRecoveryWindowDays = config.tenants.secretRecoveryWindowDays;
    this.exportRetentionDays = config.tenants.exports.retentionDays;
    this.rotationDrainMs = config.worker.rotation.drainMs;
    this.deadlineMs = config.worker.deadlineMs;
    this.stepMaxAttempts = config.worker.stepMaxAttempts;
    this.retry = config.worker.retry;
    this.wait = config.worker.wait;
  }
}
