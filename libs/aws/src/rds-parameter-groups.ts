import {
  CreateDBParameterGroupCommand,
  DBParameterGroupAlreadyExistsFault,
  DBParameterGroupNotFoundFault,
  DescribeDBParameterGroupsCommand,
  DescribeDBParametersCommand,
  InvalidDBParameterGroupStateFault,
  ListTagsForResourceCommand,
  ModifyDBParameterGroupCommand,
} from '@aws-sdk/client-rds';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import type { AwsClientSet } from './aws-clients';
import { toProvisioningError } from './aws-error-classification';
import { fromAwsTags, toAwsTags, type Tags } from './aws-tags';

/**
 * The one parameter Silo changes from the engine family's defaults: `rds.logical_replication = 1`
 * sets `wal_level = logical`, which moving a tenant by logical replication needs on its source.
 * It is static: an instance created with the group starts with it; one that joins the group later
 * takes it at its next reboot (`pending-reboot`).
 */
export const LOGICAL_REPLICATION_PARAMETER = { name: 'rds.logical_replication', value: '1' } as const;

/** The tags that say a parameter group is Silo's, in this environment. */
export const PARAMETER_GROUP_TAG_KEYS = ['managed-by', 'silo:environment'] as const;

/** The RDS engine family of a PostgreSQL version: `postgres16` for `16` and `16.4`. */
export function parameterGroupFamily(engineVersion: string): string {
  const major = /^(\d+)/.exec(engineVersion)?.[1];
  if (!major) throw new Error(`${JSON.stringify(engineVersion)} is not a PostgreSQL version`);
  return `postgres${major}`;
}

/**
 * Silo's DB parameter group for instances of `engineVersion`, one per region and engine family:
 * `<prefix>-postgres<major>` (`silo-postgres16`).
 */
export function parameterGroupName(prefix: string, engineVersion: string): string {
  return `${prefix}-${parameterGroupFamily(engineVersion)}`;
}

/** Silo's parameter group as it should be: the family's defaults, logical replication on. */
export interface ParameterGroupSpec {
  name: string;
  family: string;
  /** `managed-by` and `silo:environment` (see {@link PARAMETER_GROUP_TAG_KEYS}). */
  tags: Tags;
}

/**
 * - `created`: made now, logical replication set;
 * - `updated`: it was there and Silo's, with logical replication not set: set now (instances
 *   already in the group report `pending-reboot` until they reboot);
 * - `in-place`: there, Silo's and as it should be.
 */
export type ParameterGroupOutcome = 'created' | 'updated' | 'in-place';

/** The part of {@link ParameterGroupSpec} the tags come from: picked from an instance's own tags. */
export function parameterGroupTags(instanceTags: Tags): Record<string, string> {
  return Object.fromEntries(
    PARAMETER_GROUP_TAG_KEYS.filter((key) => instanceTags[key] !== undefined).map((key) => [
      key,
      instanceTags[key],
    ]),
  );
}

/**
 * Silo's DB parameter groups in one region. A group of Silo's name that is not tagged as Silo's
 * (this environment's `managed-by` and `silo:environment`) or is of another family is
 * RESOURCE_NAME_TAKEN and left alone; other parameters an operator set in Silo's group are left
 * as they are.
 */
export class RdsParameterGroups {
  constructor(private readonly aws: Pick<AwsClientSet, 'rds'>) {}

  /** Makes the group, or finds it (a re-run, another saga first) and sets what is missing. */
  async ensure(spec: ParameterGroupSpec): Promise<ParameterGroupOutcome> {
    if (await this.create(spec)) {
      await this.setLogicalReplication(spec.name);
      return 'created';
    }
    await this.checkOwnership(spec);
    if (
      (await this.userValue(spec.name, LOGICAL_REPLICATION_PARAMETER.name)) ===
      LOGICAL_REPLICATION_PARAMETER.value
    )
      return 'in-place';
    await this.setLogicalReplication(spec.name);
    return 'updated';
  }

  /** True when made now, false when a group of that name exists. */
  private async create(spec: ParameterGroupSpec): Promise<boolean> {
    try {
      await this.aws.rds.send(
        new CreateDBParameterGroupCommand({
          DBParameterGroupName: spec.name,
          DBParameterGroupFamily: spec.family,
          Description: `Managed by Silo: ${spec.family} defaults with ${LOGICAL_REPLICATION_PARAMETER.name}=${LOGICAL_REPLICATION_PARAMETER.value}`,
          Tags: toAwsTags(spec.tags),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof DBParameterGroupAlreadyExistsFault) return false;
      throw toProvisioningError(error, 'CreateDBParameterGroup');
    }
  }

  private async checkOwnership(spec: ParameterGroupSpec): Promise<void> {
    const group = await this.describe(spec.name);
    const tags = await this.tagsOf(group.arn);
    const ours = PARAMETER_GROUP_TAG_KEYS.every(
      (key) => spec.tags[key] !== undefined && tags[key] === spec.tags[key],
    );
    if (!ours || group.family !== spec.family) {
      throw new ProvisioningError(
        ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
        `DB parameter group ${spec.name} already exists and is not Silo's ${spec.family} group for this environment ` +
          `(family ${group.family || 'unknown'}, tags ${JSON.stringify(tags)}); it was left untouched`,
      );
    }
  }

  private async describe(name: string): Promise<{ arn: string; family: string }> {
    try {
      const { DBParameterGroups } = await this.aws.rds.send(
        new DescribeDBParameterGroupsCommand({ DBParameterGroupName: name }),
      );
      const found = DBParameterGroups?.find((g) => g.DBParameterGroupName === name);
      if (found?.DBParameterGroupArn)
        return { arn: found.DBParameterGroupArn, family: found.DBParameterGroupFamily ?? '' };
      throw goneMeanwhile(name);
    } catch (error) {
      if (error instanceof DBParameterGroupNotFoundFault) throw goneMeanwhile(name, error);
      throw toProvisioningError(error, 'DescribeDBParameterGroups');
    }
  }

  private async tagsOf(arn: string): Promise<Record<string, string>> {
    try {
      const { TagList } = await this.aws.rds.send(new ListTagsForResourceCommand({ ResourceName: arn }));
      return fromAwsTags(TagList);
    } catch (error) {
      throw toProvisioningError(error, 'ListTagsForResource');
    }
  }

  /** The value the group's user-set parameters give `parameter`, or null when it is the family's default. */
  private async userValue(name: string, parameter: string): Promise<string | null> {
    let marker: string | undefined;
    try {
      do {
        const page = await this.aws.rds.send(
          new DescribeDBParametersCommand({ DBParameterGroupName: name, Source: 'user', Marker: marker }),
        );
        const found = page.Parameters?.find((p) => p.ParameterName === parameter);
        if (found) return found.ParameterValue ?? null;
        marker = page.Marker;
      } while (marker);
      return null;
    } catch (error) {
      if (error instanceof DBParameterGroupNotFoundFault) throw goneMeanwhile(name, error);
      throw toProvisioningError(error, 'DescribeDBParameters');
    }
  }

  private async setLogicalReplication(name: string): Promise<void> {
    try {
      await this.aws.rds.send(
        new ModifyDBParameterGroupCommand({
          DBParameterGroupName: name,
          Parameters: [
            {
              ParameterName: LOGICAL_REPLICATION_PARAMETER.name,
              ParameterValue: LOGICAL_REPLICATION_PARAMETER.value,
              // A static parameter: RDS refuses `immediate` for it.
              ApplyMethod: 'pending-reboot',
            },
          ],
        }),
      );
    } catch (error) {
      if (error instanceof DBParameterGroupNotFoundFault) throw goneMeanwhile(name, error);
      if (error instanceof InvalidDBParameterGroupStateFault) {
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `ModifyDBParameterGroup: ${name} cannot be modified now (${error.message})`,
          { cause: error },
        );
      }
      throw toProvisioningError(error, 'ModifyDBParameterGroup');
    }
  }
}

/** Deleted between two calls: the next attempt makes it again. */
function goneMeanwhile(name: string, cause?: unknown): ProvisioningError {
  return new ProvisioningError(
    ProvisioningErrorCode.AWS_UNAVAILABLE,
    `DB parameter group ${name} disappeared while it was being checked`,
    { cause },
  );
}
