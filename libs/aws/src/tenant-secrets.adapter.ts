import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  RestoreSecretCommand,
  ResourceNotFoundException,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { Inject, Injectable } from '@nestjs/common';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { awsCall, toProvisioningError } from './aws-error-classification';
import { AwsClients, regionalAdapter, type AwsClientSet } from './aws-clients';
import { fromAwsTags, TENANT_ID_TAG, toAwsTags, type Tags } from './aws-tags';

export type SecretJson = Record<string, string | number>;

/** Secrets Manager secrets holding tenant credentials as JSON (the RDS secret shape). */
@Injectable()
export class TenantSecrets {
  private readonly regions = new Map<string, TenantSecrets>();

  constructor(@Inject(AwsClients) private readonly aws: AwsClientSet) {}

  /** The region this adapter works in. */
  get region(): string {
    return this.aws.region;
  }

  /** The same adapter in `region` (that region's clients; made once per region). */
  inRegion(region: string): TenantSecrets {
    return regionalAdapter(
      this,
      this.aws.region,
      this.regions,
      region,
      () => new TenantSecrets(this.aws.forRegion(region)),
    );
  }

  /**
   * Creates the secret with `value`. When a secret of that name already exists and is tagged for
   * `ownerTenantId` (a re-run), it is kept as it is: read it back with {@link read}. One that is
   * not ours is RESOURCE_NAME_TAKEN.
   */
  async create(
    name: string,
    value: SecretJson,
    options: { tags: Tags; kmsKeyId?: string; ownerTenantId: string },
  ): Promise<{ arn: string; created: boolean }> {
    try {
      const out = await this.aws.secretsManager.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: JSON.stringify(value),
          KmsKeyId: options.kmsKeyId,
          Tags: toAwsTags(options.tags),
          Description: 'Managed by Silo',
        }),
      );
      return { arn: out.ARN ?? name, created: true };
    } catch (error) {
      if (!(error instanceof ResourceExistsException)) throw toProvisioningError(error, 'CreateSecret');
      const existing = await awsCall('DescribeSecret', () =>
        this.aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name })),
      );
      if (fromAwsTags(existing.Tags)[TENANT_ID_TAG] !== options.ownerTenantId) {
        throw new ProvisioningError(
          ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
          `secret ${name} already exists and is not tagged for this tenant; it was left untouched`,
        );
      }
      return { arn: existing.ARN ?? name, created: false };
    }
  }

  /** The secret's JSON value (AWSCURRENT, or the given stage or version), or null when there is none. */
  async read(name: string, which: { stage?: string; versionId?: string } = {}): Promise<SecretJson | null> {
    try {
      const out = await this.aws.secretsManager.send(
        // AWSCURRENT named explicitly: moto answers a read without a stage with the version the
        // secret was created with, even after the label moved.
        new GetSecretValueCommand({
          SecretId: name,
          VersionStage: which.versionId ? which.stage : (which.stage ?? 'AWSCURRENT'),
          VersionId: which.versionId,
        }),
      );
      if (!out.SecretString) return null;
      const parsed: unknown = JSON.parse(out.SecretString);
      if (!parsed || typeof parsed !== 'object') {
        throw new ProvisioningError(
          ProvisioningErrorCode.INCONSISTENT_STATE,
          `secret ${name} does not hold a JSON object`,
        );
      }
      return parsed as SecretJson;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return null;
      if (error instanceof SyntaxError) {
        throw new ProvisioningError(
          ProvisioningErrorCode.INCONSISTENT_STATE,
          `secret ${name} does not hold JSON`,
        );
      }
      throw toProvisioningError(error, 'GetSecretValue');
    }
  }

  /** Replaces the secret's value (a new version). */
  async write(name: string, value: SecretJson): Promise<void> {
    await awsCall('PutSecretValue', () =>
      this.aws.secretsManager.send(
        new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(value) }),
      ),
    );
  }

  /** Which staging labels each version carries (`AWSCURRENT`, `AWSPENDING`, `AWSPREVIOUS`). */
  async versionStages(name: string): Promise<Record<string, string[]>> {
    const out = await awsCall('DescribeSecret', () =>
      this.aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name })),
    );
    return out.VersionIdsToStages ?? {};
  }

  /**
   * Rotation's createSecret: `value` as a new version `versionId` labelled AWSPENDING. The same
   * call again (a re-run) is a no-op: Secrets Manager keeps the version with that token.
   */
  async putPending(name: string, value: SecretJson, versionId: string): Promise<void> {
    await awsCall('PutSecretValue', () =>
      this.aws.secretsManager.send(
        new PutSecretValueCommand({
          SecretId: name,
          SecretString: JSON.stringify(value),
          ClientRequestToken: versionId,
          VersionStages: ['AWSPENDING'],
        }),
      ),
    );
  }

  /**
   * Rotation's finishSecret: AWSCURRENT moves to `versionId` (Secrets Manager labels the old one
   * AWSPREVIOUS), and AWSPENDING comes off it. Idempotent.
   */
  async promote(name: string, versionId: string): Promise<void> {
    const stages = await this.versionStages(name);
    const current = Object.keys(stages).find((v) => stages[v].includes('AWSCURRENT'));
    if (current !== versionId) {
      await awsCall('UpdateSecretVersionStage', () =>
        this.aws.secretsManager.send(
          new UpdateSecretVersionStageCommand({
            SecretId: name,
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: versionId,
            RemoveFromVersionId: current,
          }),
        ),
      );
    }
    await this.unstage(name, 'AWSPENDING', versionId, stages);
  }

  /** Takes `stage` off `versionId`, if it is there. */
  async unstage(
    name: string,
    stage: string,
    versionId: string,
    known?: Record<string, string[]>,
  ): Promise<void> {
    const stages = known ?? (await this.versionStages(name));
    if (!stages[versionId]?.includes(stage)) return;
    await awsCall('UpdateSecretVersionStage', () =>
      this.aws.secretsManager.send(
        new UpdateSecretVersionStageCommand({
          SecretId: name,
          VersionStage: stage,
          RemoveFromVersionId: versionId,
        }),
      ),
    );
  }

  /**
   * Deletes the secret: at once (`force`, for compensation) or after a recovery window (for
   * deprovisioning). A secret that is already gone is fine; one not tagged for `ownerTenantId`
   * is never touched.
   */
  async delete(
    name: string,
    mode: { force: true } | { recoveryWindowDays: number },
    ownerTenantId: string,
  ): Promise<'deleted' | 'gone' | 'not-ours'> {
    try {
      const existing = await this.aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }));
      if (fromAwsTags(existing.Tags)[TENANT_ID_TAG] !== ownerTenantId) return 'not-ours';
      if (existing.DeletedDate && !('force' in mode)) return 'deleted';
      await this.aws.secretsManager.send(
        new DeleteSecretCommand(
          'force' in mode
            ? { SecretId: name, ForceDeleteWithoutRecovery: true }
            : { SecretId: name, RecoveryWindowInDays: mode.recoveryWindowDays },
        ),
      );
      return 'deleted';
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return 'gone';
      throw toProvisioningError(error, 'DeleteSecret');
    }
  }

  /**
   * Cancels the scheduled deletion of a secret tagged for `ownerTenantId` (a tenant moving back
   * to where its earlier secrets wait out their recovery window): `restored`, `live` when nothing
   * was scheduled, `gone`, or `not-ours` (never touched).
   */
  async restore(name: string, ownerTenantId: string): Promise<'restored' | 'live' | 'gone' | 'not-ours'> {
    try {
      const existing = await this.aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }));
      if (fromAwsTags(existing.Tags)[TENANT_ID_TAG] !== ownerTenantId) return 'not-ours';
      if (!existing.DeletedDate) return 'live';
      await this.aws.secretsManager.send(new RestoreSecretCommand({ SecretId: name }));
      return 'restored';
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return 'gone';
      throw toProvisioningError(error, 'RestoreSecret');
    }
  }

  /**
   * Whether the secret exists, when it is scheduled to be deleted (DescribeSecret's `DeletedDate`:
   * the end of its recovery window), if it is, and which tenant its tags name.
   */
  async status(
    name: string,
  ): Promise<{ exists: false } | { exists: true; deletionDate?: Date; ownerTenantId?: string }> {
    try {
      const out = await this.aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }));
      return {
        exists: true,
        deletionDate: out.DeletedDate,
        ownerTenantId: fromAwsTags(out.Tags)[TENANT_ID_TAG],
      };
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return { exists: false };
      throw toProvisioningError(error, 'DescribeSecret');
    }
  }
}
