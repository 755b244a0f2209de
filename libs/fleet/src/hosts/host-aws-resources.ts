import type {
  DeleteOutcome,
  FleetInventory,
  InstanceSpec,
  RdsInstances,
  SecretJson,
  Tags,
  TenantSecrets,
} from '@silo/aws';
import { TENANT_ID_TAG } from '@silo/aws';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';

export const HOST_ID_TAG = 'silo:host-id';

/**
 * libs/aws checks ownership by the `silo:tenant-id` tag only. A host's resources carry
 * `silo:host-id` and no tenant id, so before a delete ownership is checked here, by the host tag,
 * and the adapter's own check is then passed with "no tenant", which only a resource that names
 * no tenant satisfies. (libs/aws should take the owner as a tag and value instead.)
 */
const NO_TENANT = undefined as unknown as string;

/** Whether `tags` say the resource is this host's (and no tenant's). */
export function taggedForHost(tags: Record<string, string> | null | undefined, hostId: string): boolean {
  return !!tags && tags[HOST_ID_TAG] === hostId && tags[TENANT_ID_TAG] === undefined;
}

/**
 * A shared host's RDS instance and secrets, with "already exists" and "may be deleted" judged by
 * the host's tag: a re-run after a crash finds what the crashed run made, and nothing that is not
 * the host's is ever changed.
 */
export class HostAwsResources {
  constructor(
    private readonly rds: Pick<RdsInstances, 'create' | 'describe' | 'delete'>,
    private readonly secrets: Pick<TenantSecrets, 'create' | 'delete' | 'status'>,
    private readonly inventory: Pick<FleetInventory, 'tagsOf'>,
  ) {}

  async createInstance(spec: InstanceSpec, hostId: string): Promise<'created' | 'already-exists'> {
    try {
      // Given the host id as the tenant, the adapter finds no instance of that name its own (no
      // tenant has a host's id): a name taken is judged by the host tag below.
      return await this.rds.create(spec, hostId);
    } catch (error) {
      if (!isNameTaken(error)) throw error;
      const existing = await this.rds.describe(spec.identifier);
      // No instance of that name: the name taken was the parameter group's (the adapter says so).
      if (!existing) throw error;
      if (taggedForHost(existing.tags, hostId)) return 'already-exists';
      throw new ProvisioningError(
        ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
        `RDS instance ${spec.identifier} already exists and is not tagged for this host; it was left untouched`,
      );
    }
  }

  /** As {@link RdsInstances.delete}, for the host's own instance only. */
  async deleteInstance(
    identifier: string,
    hostId: string,
    finalSnapshotIdentifier?: string,
  ): Promise<DeleteOutcome> {
    const current = await this.rds.describe(identifier);
    if (!current) return 'gone';
    if (!taggedForHost(current.tags, hostId)) return 'not-ours';
    return this.rds.delete(identifier, { ownerTenantId: NO_TENANT, finalSnapshotIdentifier });
  }

  /** Creates the secret, or finds the one a crashed run made (`created: false`: read it back). */
  async createSecret(
    name: string,
    value: SecretJson,
    options: { tags: Tags; kmsKeyId?: string },
    hostId: string,
  ): Promise<{ created: boolean }> {
    try {
      // As for the instance: a name taken is judged by the host tag below.
      const { created } = await this.secrets.create(name, value, { ...options, ownerTenantId: hostId });
      return { created };
    } catch (error) {
      if (!isNameTaken(error)) throw error;
      if (taggedForHost(await this.inventory.tagsOf('secret', name), hostId)) return { created: false };
      throw new ProvisioningError(
        ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
        `secret ${name} already exists and is not tagged for this host; it was left untouched`,
      );
    }
  }

  /** Deletes the host's secret (at once, or after a recovery window); one already scheduled counts as deleted. */
  async deleteSecret(
    name: string,
    mode: { force: true } | { recoveryWindowDays: number },
    hostId: string,
  ): Promise<'deleted' | 'gone' | 'not-ours'> {
    const tags = await this.inventory.tagsOf('secret', name);
    if (tags === null) {
      // Gone, or already scheduled for deletion (tagsOf answers null for both).
      const status = await this.secrets.status(name);
      return status.exists ? 'deleted' : 'gone';
    }
    if (!taggedForHost(tags, hostId)) return 'not-ours';
    return this.secrets.delete(name, mode, NO_TENANT);
  }
}

function isNameTaken(error: unknown): boolean {
  return error instanceof ProvisioningError && error.code === ProvisioningErrorCode.RESOURCE_NAME_TAKEN;
}
