import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ResourceExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import { Injectable } from '@nestjs/common';
import { toProvisioningError } from './aws-error-classification';
import { AwsClients } from './aws-clients';
import { fromAwsTags, toAwsTags, type Tags } from './aws-tags';
import { TenantSecrets, type SecretJson } from './tenant-secrets.adapter';

/** A secret as {@link ControlPlaneSecrets.find} sees it. */
export interface ControlPlaneSecret {
  tags: Record<string, string>;
  /** Its current JSON value; null when it holds no string, or is scheduled for deletion. */
  value: SecretJson | null;
  /** Set when the secret is scheduled for deletion (it cannot be read until restored). */
  deletionDate?: Date;
}

/**
 * Secrets Manager secrets the control plane keeps for itself, not for a tenant or a host (the
 * data plane's login to the control-plane database): no tenant or host tag, and ownership judged
 * by their caller from the tags {@link find} returns.
 */
@Injectable()
export class ControlPlaneSecrets {
  private readonly values: TenantSecrets;

  constructor(private readonly aws: AwsClients) {
    this.values = new TenantSecrets(aws);
  }

  /** The secret's tags and current value, or null when no secret has that name. */
  async find(name: string): Promise<ControlPlaneSecret | null> {
    let described;
    try {
      described = await this.aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return null;
      throw toProvisioningError(error, 'DescribeSecret');
    }
    const tags = fromAwsTags(described.Tags);
    if (described.DeletedDate) return { tags, value: null, deletionDate: described.DeletedDate };
    return { tags, value: await this.values.read(name) };
  }

  /**
   * Creates the secret with `value`. False when a secret of that name exists already (another run
   * made it first): {@link find} it again, and judge by its tags whether it is ours.
   */
  async create(
    name: string,
    value: SecretJson,
    options: { tags: Tags; kmsKeyId?: string; description: string },
  ): Promise<boolean> {
    try {
      await this.aws.secretsManager.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: JSON.stringify(value),
          KmsKeyId: options.kmsKeyId,
          Tags: toAwsTags(options.tags),
          Description: options.description,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ResourceExistsException) return false;
      throw toProvisioningError(error, 'CreateSecret');
    }
  }

  /** Replaces the secret's value (a new version, AWSCURRENT). */
  write(name: string, value: SecretJson): Promise<void> {
    return this.values.write(name, value);
  }
}
