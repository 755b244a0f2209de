import { ArnFormat, Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  QUEUE_DEPTH_METRIC,
  ENVIRONMENT_TAG_KEY,
  HOST_ID_TAG_KEY,
  HOST_TAG_KEYS,
  MANAGED_BY_TAG_KEY,
  MANAGED_BY_TAG_VALUE,
  RESTORED_FROM_TAG_KEY,
  TENANT_ID_TAG_KEY,
  TENANT_TAG_KEYS,
  hostResourcePatterns,
  tenantExportKeyPrefix,
  tenantResourcePatterns,
  type PrerequisiteNames,
} from './silo-names';

export interface SiloAccessPoliciesProps {
  prefix: string;
  names: PrerequisiteNames;
  /** The key for tenant storage and secrets (KMS_KEY_ID). */
  tenantKey: kms.IKey;
  /** Name of the DB subnet group the worker passes (RDS_SUBNET_GROUP). */
  subnetGroupName: string;
  /** TENANT_EXPORT_BUCKET: deleted schema and pool tenants' exports, under `<prefix>/exports/`. */
  exportsBucket: s3.IBucket;
  /** SILO_ENVIRONMENT of the worker: the `silo:environment` tag value of every tenant resource. */
  environment: string;
  /**
   * Given in the home region's stack, where the control plane runs: its policies are named as
   * always (`<prefix>-provisioning-worker`, …), hold the statements on Resource "*" (every region's
   * ListSecrets, the queue metrics) and the data plane's login secret, and the migration's policy
   * is made too. Unset, this is another region's stack: the worker's, API's and data plane's
   * policies for that region's resources only, named `<name>-<region>`.
   */
  home?: {
    /** The data plane's login secret (`<prefix>/control-plane/data-plane`), by its complete ARN. */
    dataPlaneSecretArn: string;
  };
  /** The stack's region, which names another region's policies. Required without `home`. */
  region?: string;
}

/**
 * The four least-privilege policies: the provisioning worker's, the API's, the data plane's and
 * the control-plane migration's.
 * Every statement names the calls that need it in the "Infrastructure" tables of docs/deploying.md; the
 * tests fail when the worker's actions and the AWS calls in libs/aws drift apart.
 *
 * Three rules shape the conditions:
 * - Creates carry the tenant tags, so they require `managed-by=silo`, `silo:environment` = this
 *   environment, a tenant id and no tag keys other than the worker's (aws:RequestTag, aws:TagKeys);
 *   a shared host's creates carry the host tags instead: a host id and the host tag keys only.
 * - Changes to existing resources require the resource to be tagged `managed-by=silo` and
 *   `silo:environment` = this environment.
 * - Explicit denies keep the two ownership tags: no tag call on a resource that carries another
 *   owner's or another environment's value, and no removing either key. RDS, Secrets Manager and
 *   CloudWatch have no condition key that tells a create's tags from a later tag call (no
 *   `ec2:CreateAction` equivalent), so an untagged resource under the prefix can still be tagged
 *   (docs/deploying.md, "What IAM cannot express here"). Reads
 *   (Describe*, the worker's GetSecretValue) are limited by name only: the worker must tell
 *   "not there" from "someone else's" (RESOURCE_NAME_TAKEN, 'gone', 'not-ours'), and a tag
 *   condition turns both into AccessDenied.
 */
export class SiloAccessPolicies extends Construct {
  readonly worker: iam.ManagedPolicy;
  readonly api: iam.ManagedPolicy;
  readonly dataPlane: iam.ManagedPolicy;
  /** The home region's only: the data plane's login secret lives there. */
  readonly migrate: iam.ManagedPolicy | undefined;

  constructor(scope: Construct, id: string, props: SiloAccessPoliciesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { home } = props;
    if (!home && !props.region)
      throw new Error("another region's policies are named after its region: give region");
    /** IAM names are global: another region's policies carry its name. */
    const policyName = (name: string) => (home ? name : `${name}-${props.region}`);
    /** Statements of the home region's policies only. */
    const homeOnly = <T>(...items: T[]): T[] => (home ? items : []);
    const patterns = tenantResourcePatterns(props.prefix);
    const arn = (service: string, resource: string, resourceName: string) =>
      stack.formatArn({ service, resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    const instances = arn('rds', 'db', patterns.instance);
    const finalSnapshots = arn('rds', 'snapshot', patterns.finalSnapshot);
    const manualSnapshots = arn('rds', 'snapshot', patterns.manualSnapshot);
    const restoreCopies = arn('rds', 'db', patterns.restoreCopy);
    // Secret ARNs end in "-" and six random characters.
    const masterSecrets = arn('secretsmanager', 'secret', `${patterns.masterSecret}-??????`);
    const appSecrets = arn('secretsmanager', 'secret', `${patterns.appSecret}-??????`);
    const alarms = arn('cloudwatch', 'alarm', patterns.alarm);
    const anyInstance = arn('rds', 'db', '*');
    const anySnapshot = arn('rds', 'snapshot', '*');
    const prefixedSnapshots = arn('rds', 'snapshot', `${props.prefix}-*`);
    const hostPatterns = hostResourcePatterns(props.prefix);
    const hostInstances = arn('rds', 'db', hostPatterns.instance);
    const hostSecrets = [
      arn('secretsmanager', 'secret', `${hostPatterns.masterSecret}-??????`),
      arn('secretsmanager', 'secret', `${hostPatterns.poolAppSecret}-??????`),
    ];
    const hostPoolAppSecrets = hostSecrets[1];
    // Every secret the worker reads and changes: a host's master secret is also `<prefix>/*/master`,
    // its pool-app secret is not `<prefix>/*/app`.
    const secrets = [masterSecrets, appSecrets, hostPoolAppSecrets];
    const hostAlarms = arn('cloudwatch', 'alarm', hostPatterns.alarm);
    const exportObjects = props.exportsBucket.arnForObjects(`${tenantExportKeyPrefix(props.prefix)}*`);
    const viaService = (service: string) => `${service}.${Aws.REGION}.${Aws.URL_SUFFIX}`;

    const tenantRequestTags = {
      StringEquals: {
        [`aws:RequestTag/${MANAGED_BY_TAG_KEY}`]: MANAGED_BY_TAG_VALUE,
        [`aws:RequestTag/${ENVIRONMENT_TAG_KEY}`]: props.environment,
      },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [...TENANT_TAG_KEYS] },
      Null: { [`aws:RequestTag/${TENANT_ID_TAG_KEY}`]: 'false' },
    };
    // A shared host's resources carry the host's tags (libs/core hostTags), never a tenant id.
    const hostRequestTags = {
      StringEquals: tenantRequestTags.StringEquals,
      'ForAllValues:StringEquals': { 'aws:TagKeys': [...HOST_TAG_KEYS] },
      Null: { [`aws:RequestTag/${HOST_ID_TAG_KEY}`]: 'false' },
    };
    /** The resource carries Silo's tags for this environment (`prefix`: the tag condition key's). */
    const taggedOurs = (prefix: string) => ({
      StringEquals: {
        [`${prefix}/${MANAGED_BY_TAG_KEY}`]: MANAGED_BY_TAG_VALUE,
        [`${prefix}/${ENVIRONMENT_TAG_KEY}`]: props.environment,
      },
    });
    const taggedManagedBy = (key: string) => ({ StringEquals: { [key]: MANAGED_BY_TAG_VALUE } });
    // Everything the worker may tag: the ownership tags of these are what the denies keep.
    const taggable = [
      instances,
      prefixedSnapshots,
      ...secrets,
      alarms,
      arn('rds', 'pg', `${props.prefix}-*`),
    ];
    const tagActions = ['rds:AddTagsToResource', 'secretsmanager:TagResource', 'cloudwatch:TagResource'];
    const untagActions = [
      'rds:RemoveTagsFromResource',
      'secretsmanager:UntagResource',
      'cloudwatch:UntagResource',
    ];
    /** A tag call on a resource whose `key` tag is there with another value than `value`. */
    const taggedOtherwise = (key: string, value: string) => ({
      Null: { [`aws:ResourceTag/${key}`]: 'false' },
      StringNotEquals: { [`aws:ResourceTag/${key}`]: value },
    });

    this.worker = new iam.ManagedPolicy(this, 'Worker', {
      managedPolicyName: policyName(props.names.workerPolicy),
      description: `Silo provisioning worker (${props.prefix}): tenant and host RDS instances, secrets and alarms, tenant exports${home ? '' : ` in ${props.region}`}`,
      statements: [
        new iam.PolicyStatement({
          sid: 'CreateTenantInstances',
          actions: ['rds:CreateDBInstance'],
          resources: [instances],
          conditions: {
            ...tenantRequestTags,
            StringEquals: {
              ...tenantRequestTags.StringEquals,
              'rds:DatabaseEngine': 'postgres',
            },
            Bool: { 'rds:StorageEncrypted': 'true' },
          },
        }),
        // CreateDBInstance is also authorized against each group the instance joins. The worker
        // names the subnet group and Silo's parameter group (`<prefix>-postgres<major>`); RDS
        // fills in the engine's default option group (and default parameter group, for instances
        // made before Silo named its own). No tag condition here: the db statement above carries
        // them, and both must pass.
        new iam.PolicyStatement({
          sid: 'PlaceTenantInstances',
          actions: [
            'rds:CreateDBInstance',
            'rds:RestoreDBInstanceFromDBSnapshot',
            'rds:RestoreDBInstanceToPointInTime',
          ],
          resources: [
            arn('rds', 'subgrp', props.subnetGroupName),
            arn('rds', 'pg', 'default.postgres*'),
            arn('rds', 'pg', `${props.prefix}-*`),
            arn('rds', 'og', 'default:postgres-*'),
          ],
        }),
        // Silo's parameter group per engine family (`<prefix>-postgres<major>`: the family's
        // defaults with rds.logical_replication=1, for moves), made before a region's first
        // instance with managed-by and silo:environment only. CreateDBParameterGroup with Tags is
        // authorized as AddTagsToResource too.
        new iam.PolicyStatement({
          sid: 'CreateParameterGroups',
          actions: ['rds:CreateDBParameterGroup', 'rds:AddTagsToResource'],
          resources: [arn('rds', 'pg', `${props.prefix}-*`)],
          conditions: {
            StringEquals: tenantRequestTags.StringEquals,
            'ForAllValues:StringEquals': { 'aws:TagKeys': [MANAGED_BY_TAG_KEY, ENVIRONMENT_TAG_KEY] },
          },
        }),
        // rds:pg-tag is RDS's resource-tag key for parameter groups.
        new iam.PolicyStatement({
          sid: 'ChangeOwnParameterGroups',
          actions: ['rds:ModifyDBParameterGroup'],
          resources: [arn('rds', 'pg', `${props.prefix}-*`)],
          conditions: taggedOurs('rds:pg-tag'),
        }),
        // By name only, as the instances: the worker tells "not there" from "someone else's"
        // (RESOURCE_NAME_TAKEN) by the group's tags.
        new iam.PolicyStatement({
          sid: 'DescribeParameterGroups',
          actions: ['rds:DescribeDBParameterGroups', 'rds:DescribeDBParameters', 'rds:ListTagsForResource'],
          resources: [arn('rds', 'pg', `${props.prefix}-*`)],
        }),
        // CreateDBInstance with Tags is authorized as AddTagsToResource too. RDS has no key that
        // tells those tags from a later AddTagsToResource (rds:TagsFromRequest is true for both),
        // so this also lets the reconciler and a tier change retag an instance: with Silo's whole
        // tag set for this environment only, and never one another owner's or environment's tags
        // claim (KeepOthersTags, KeepOtherEnvironmentsTags).
        new iam.PolicyStatement({
          sid: 'TagTenantInstancesOnCreate',
          actions: ['rds:AddTagsToResource'],
          resources: [instances],
          conditions: tenantRequestTags,
        }),
        // A shared host's instance (`<prefix>-host-<name>`), with the host's tags: the same
        // engine and encryption as a tenant's, the same groups (PlaceTenantInstances).
        new iam.PolicyStatement({
          sid: 'CreateHostInstances',
          actions: ['rds:CreateDBInstance'],
          resources: [hostInstances],
          conditions: {
            ...hostRequestTags,
            StringEquals: { ...hostRequestTags.StringEquals, 'rds:DatabaseEngine': 'postgres' },
            Bool: { 'rds:StorageEncrypted': 'true' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'TagHostInstancesOnCreate',
          actions: ['rds:AddTagsToResource'],
          resources: [hostInstances],
          conditions: hostRequestTags,
        }),
        new iam.PolicyStatement({
          sid: 'DescribeTenantInstances',
          actions: ['rds:DescribeDBInstances'],
          resources: [instances],
        }),
        // rds:db-tag is RDS's resource-tag key for instances; DeleteDBInstance with a final
        // snapshot is also authorized as CreateDBSnapshot on the instance.
        new iam.PolicyStatement({
          sid: 'ChangeOwnTenantInstances',
          actions: ['rds:ModifyDBInstance', 'rds:DeleteDBInstance', 'rds:CreateDBSnapshot'],
          resources: [instances],
          conditions: taggedOurs('rds:db-tag'),
        }),
        // ...and on the snapshot, which does not exist yet (no tag to check), so by name only.
        new iam.PolicyStatement({
          sid: 'TakeFinalSnapshots',
          actions: ['rds:CreateDBSnapshot'],
          resources: [finalSnapshots],
        }),
        // A snapshot on request (the snapshot-tenant job), with the tenant's tags in the request:
        // on the instance it is ChangeOwnTenantInstances; on the snapshot, by name and tags.
        new iam.PolicyStatement({
          sid: 'TakeManualSnapshots',
          actions: ['rds:CreateDBSnapshot', 'rds:AddTagsToResource'],
          resources: [manualSnapshots],
          conditions: tenantRequestTags,
        }),
        // CopyTagsToSnapshot copies the instance's tags onto it: tags inherited, not in the request
        // (rds:TagsFromRequest false), which a standalone AddTagsToResource call never is.
        new iam.PolicyStatement({
          sid: 'TagFinalSnapshotsFromInstance',
          actions: ['rds:AddTagsToResource'],
          resources: [finalSnapshots],
          conditions: { BoolIfExists: { 'rds:TagsFromRequest': 'false' } },
        }),
        // A restore makes a new tenant instance from a snapshot or from an instance's backups, with
        // the tenant's tags and what it was restored from; it keeps its source's key (restores take
        // none). Authorized on the new instance, on what it is restored from, and on the groups it
        // joins (PlaceTenantInstances).
        new iam.PolicyStatement({
          sid: 'RestoreTenantInstances',
          actions: [
            'rds:RestoreDBInstanceFromDBSnapshot',
            'rds:RestoreDBInstanceToPointInTime',
            'rds:AddTagsToResource',
          ],
          // Only a restore copy's name (`<prefix>-restore-<slug>-<run>`): the request's tags say
          // nothing about the source, which RestoreFromOwnInstances checks by its own tags.
          resources: [restoreCopies],
          conditions: {
            ...tenantRequestTags,
            'ForAllValues:StringEquals': { 'aws:TagKeys': [...TENANT_TAG_KEYS, RESTORED_FROM_TAG_KEY] },
          },
        }),
        // An undelete restores a DELETED tenant's final snapshot into the tenant's own instance
        // name (`<prefix>-<slug>`), with the tenant's tags and what it was restored from. Only with
        // `silo:restored-from` among the tags, so that this adds no way to tag an existing instance
        // with Silo's tag set alone (TagTenantInstancesOnCreate stays the only one).
        new iam.PolicyStatement({
          sid: 'UndeleteTenantInstances',
          actions: ['rds:RestoreDBInstanceFromDBSnapshot', 'rds:AddTagsToResource'],
          resources: [instances],
          conditions: {
            ...tenantRequestTags,
            'ForAllValues:StringEquals': { 'aws:TagKeys': [...TENANT_TAG_KEYS, RESTORED_FROM_TAG_KEY] },
            Null: { ...tenantRequestTags.Null, [`aws:RequestTag/${RESTORED_FROM_TAG_KEY}`]: 'false' },
          },
        }),
        // The sources: a tenant instance (its backups: no automated-backup ARN is named), or a
        // snapshot of one (Silo's, or RDS's automated `rds:<instance>-…`), each tagged as Silo's
        // for this environment.
        new iam.PolicyStatement({
          sid: 'RestoreFromOwnInstances',
          actions: ['rds:RestoreDBInstanceToPointInTime'],
          resources: [instances],
          conditions: taggedOurs('rds:db-tag'),
        }),
        new iam.PolicyStatement({
          sid: 'RestoreFromOwnSnapshots',
          actions: ['rds:RestoreDBInstanceFromDBSnapshot'],
          resources: [prefixedSnapshots, arn('rds', 'snapshot', `rds:${props.prefix}-*`)],
          conditions: taggedOurs('rds:snapshot-tag'),
        }),
        // RDS encrypts the instance (storage, Performance Insights) through a grant it creates
        // with the caller's permissions: only through RDS, only for an AWS resource.
        new iam.PolicyStatement({
          sid: 'GrantTenantKeyToRds',
          actions: ['kms:CreateGrant'],
          resources: [props.tenantKey.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': viaService('rds') },
            Bool: { 'kms:GrantIsForAWSResource': 'true' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'DescribeTenantKeyViaRds',
          actions: ['kms:DescribeKey'],
          resources: [props.tenantKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': viaService('rds') } },
        }),
        // CreateSecret with Tags is authorized as TagResource too (and, as for RDS, no key tells
        // it from a later TagResource: the reconciler's retagging uses this statement).
        new iam.PolicyStatement({
          sid: 'CreateTenantSecrets',
          actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
          resources: [masterSecrets, appSecrets],
          conditions: tenantRequestTags,
        }),
        // A host's master and pool-app secrets (`<prefix>/hosts/<name>/…`), with the host's tags.
        // Reads and changes go through the tenant statements, which name these too.
        new iam.PolicyStatement({
          sid: 'CreateHostSecrets',
          actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
          resources: hostSecrets,
          conditions: hostRequestTags,
        }),
        new iam.PolicyStatement({
          sid: 'ReadTenantSecrets',
          actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
          resources: secrets,
        }),
        new iam.PolicyStatement({
          sid: 'ChangeOwnTenantSecrets',
          // UpdateSecretVersionStage: a credential rotation's finishSecret moves AWSCURRENT.
          // RestoreSecret: a tenant moving back to where its earlier secrets wait out their
          // recovery window takes them back.
          actions: [
            'secretsmanager:PutSecretValue',
            'secretsmanager:UpdateSecretVersionStage',
            'secretsmanager:DeleteSecret',
            'secretsmanager:RestoreSecret',
          ],
          resources: secrets,
          conditions: taggedOurs('aws:ResourceTag'),
        }),
        // Secrets Manager encrypts each secret version under a data key from the tenant key
        // (CreateSecret, PutSecretValue) and decrypts it (GetSecretValue; CreateSecret checks it
        // can). The encryption context names the secret, so only tenant secrets qualify.
        new iam.PolicyStatement({
          sid: 'UseTenantKeyForTenantSecrets',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [props.tenantKey.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': viaService('secretsmanager') },
            StringLike: {
              'kms:EncryptionContext:SecretARN': secrets,
            },
          },
        }),
        // PutMetricAlarm with Tags is authorized as TagResource too (a tier change's TagResource
        // of silo:tier on existing alarms uses this statement as well).
        new iam.PolicyStatement({
          sid: 'PutTenantAlarms',
          actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:TagResource'],
          resources: [alarms],
          conditions: tenantRequestTags,
        }),
        new iam.PolicyStatement({
          sid: 'PutHostAlarms',
          actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:TagResource'],
          resources: [hostAlarms],
          conditions: hostRequestTags,
        }),
        new iam.PolicyStatement({
          sid: 'DescribeTenantAlarms',
          actions: ['cloudwatch:DescribeAlarms'],
          resources: [alarms],
        }),
        // The reconciler reads the fleet in pages: listing calls name no instance or snapshot,
        // so they are authorized on every one (reads only; the worker filters by prefix and tags).
        new iam.PolicyStatement({
          sid: 'ListFleetInventory',
          actions: [
            'rds:DescribeDBInstances',
            'rds:DescribeDBSnapshots',
            'rds:DescribeDBInstanceAutomatedBackups',
          ],
          // An instance's automated backups (its restorable window) have ARNs RDS names at random.
          resources: [anyInstance, anySnapshot, arn('rds', 'auto-backup', '*')],
        }),
        // ListSecrets has no resource-level permissions: AWS authorizes it on "*" only, so the
        // home region's statement covers every region.
        ...homeOnly(
          new iam.PolicyStatement({
            sid: 'ListFleetSecrets',
            actions: ['secretsmanager:ListSecrets'],
            resources: ['*'],
          }),
        ),
        // The engine versions RDS offers (the tier profiles' at start, the fleet's in each
        // reconcile pass): a catalogue call with no resource type, authorized on "*" only.
        ...homeOnly(
          new iam.PolicyStatement({
            sid: 'DescribeEngineVersions',
            actions: ['rds:DescribeDBEngineVersions'],
            resources: ['*'],
          }),
        ),
        new iam.PolicyStatement({
          sid: 'ReadTenantAlarmTags',
          actions: ['cloudwatch:ListTagsForResource'],
          resources: [alarms],
        }),
        // Orphaned snapshots an operator asked to delete (POST /v1/orphans/delete).
        new iam.PolicyStatement({
          sid: 'DeleteOwnSnapshots',
          actions: ['rds:DeleteDBSnapshot'],
          resources: [prefixedSnapshots],
          conditions: taggedOurs('rds:snapshot-tag'),
        }),
        new iam.PolicyStatement({
          sid: 'DeleteOwnTenantAlarms',
          actions: ['cloudwatch:DeleteAlarms'],
          resources: [alarms],
          conditions: taggedOurs('aws:ResourceTag'),
        }),
        // Exports of deleted schema and pool tenants (TENANT_EXPORT_BUCKET), under
        // `<prefix>/exports/` only. PutObject covers a multipart upload's Create, UploadPart and
        // Complete (which send no encryption header: hence IfExists); an object, when its
        // encryption is named, is SSE-KMS under the tenant key.
        new iam.PolicyStatement({
          sid: 'WriteTenantExports',
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: [exportObjects],
          conditions: {
            StringEqualsIfExists: {
              's3:x-amz-server-side-encryption': 'aws:kms',
              's3:x-amz-server-side-encryption-aws-kms-key-id': props.tenantKey.keyArn,
            },
          },
        }),
        // Tagging sent with PutObject or CreateMultipartUpload is authorized as
        // PutObjectTagging: the tenant's tags for this environment only.
        new iam.PolicyStatement({
          sid: 'TagTenantExports',
          actions: ['s3:PutObjectTagging'],
          resources: [exportObjects],
          conditions: {
            StringEquals: {
              [`s3:RequestObjectTag/${MANAGED_BY_TAG_KEY}`]: MANAGED_BY_TAG_VALUE,
              [`s3:RequestObjectTag/${ENVIRONMENT_TAG_KEY}`]: props.environment,
            },
          },
        }),
        // An undelete reads a schema or pool tenant's export back (HeadObject is authorized as
        // GetObject) and its tags, to check whose it is: this environment's exports only.
        new iam.PolicyStatement({
          sid: 'ReadTenantExports',
          actions: ['s3:GetObject', 's3:GetObjectTagging'],
          resources: [exportObjects],
          conditions: {
            StringEquals: {
              [`s3:ExistingObjectTag/${MANAGED_BY_TAG_KEY}`]: MANAGED_BY_TAG_VALUE,
              [`s3:ExistingObjectTag/${ENVIRONMENT_TAG_KEY}`]: props.environment,
            },
          },
        }),
        // Compensation deletes an export it just wrote (by version in the versioned bucket).
        // S3 authorizes neither call on the object's tags, so by name only.
        new iam.PolicyStatement({
          sid: 'DeleteTenantExports',
          actions: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
          resources: [exportObjects],
        }),
        // S3 encrypts each export under a data key from the tenant key and decrypts it to
        // complete a multipart upload. The encryption context is the object's ARN (the bucket
        // uses no bucket key), so only exports qualify.
        new iam.PolicyStatement({
          sid: 'UseTenantKeyForExports',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [props.tenantKey.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': viaService('s3') },
            StringLike: { 'kms:EncryptionContext:aws:s3:arn': exportObjects },
          },
        }),
        // The queue depth the services stack scales the workers on, in the home region.
        // PutMetricData has no resource type (AWS authorizes it on "*" only); the namespace
        // condition is the limit.
        ...homeOnly(
          new iam.PolicyStatement({
            sid: 'PublishQueueMetrics',
            actions: ['cloudwatch:PutMetricData'],
            resources: ['*'],
            conditions: { StringEquals: { 'cloudwatch:namespace': QUEUE_DEPTH_METRIC.namespace } },
          }),
        ),
        // The allows above put `managed-by=silo` and this environment's tag only, so a tag call on
        // a resource that carries another value would change it: denied, whichever policy allows.
        new iam.PolicyStatement({
          sid: 'KeepOthersTags',
          effect: iam.Effect.DENY,
          actions: tagActions,
          resources: taggable,
          conditions: taggedOtherwise(MANAGED_BY_TAG_KEY, MANAGED_BY_TAG_VALUE),
        }),
        new iam.PolicyStatement({
          sid: 'KeepOtherEnvironmentsTags',
          effect: iam.Effect.DENY,
          actions: tagActions,
          resources: taggable,
          conditions: taggedOtherwise(ENVIRONMENT_TAG_KEY, props.environment),
        }),
        // PutMetricAlarm also overwrites an existing alarm, and CloudWatch ignores the tags of an
        // update: another owner's or environment's alarm (the same prefix in one account) is
        // never rewritten, whatever tags the request carries.
        new iam.PolicyStatement({
          sid: 'KeepOthersAlarms',
          effect: iam.Effect.DENY,
          actions: ['cloudwatch:PutMetricAlarm'],
          resources: [alarms],
          conditions: taggedOtherwise(MANAGED_BY_TAG_KEY, MANAGED_BY_TAG_VALUE),
        }),
        new iam.PolicyStatement({
          sid: 'KeepOtherEnvironmentsAlarms',
          effect: iam.Effect.DENY,
          actions: ['cloudwatch:PutMetricAlarm'],
          resources: [alarms],
          conditions: taggedOtherwise(ENVIRONMENT_TAG_KEY, props.environment),
        }),
        // The worker removes no tags; should another policy on its role allow it, never these two.
        new iam.PolicyStatement({
          sid: 'KeepOwnershipTags',
          effect: iam.Effect.DENY,
          actions: untagActions,
          resources: taggable,
          conditions: {
            'ForAnyValue:StringEquals': { 'aws:TagKeys': [MANAGED_BY_TAG_KEY, ENVIRONMENT_TAG_KEY] },
          },
        }),
      ],
    });

    this.api = new iam.ManagedPolicy(this, 'Api', {
      managedPolicyName: policyName(props.names.apiPolicy),
      description: `Silo control-plane API (${props.prefix}): read tenant alarms, instances, their snapshots and backups, and describe tenant secrets${home ? '' : ` in ${props.region}`}`,
      statements: [
        new iam.PolicyStatement({
          sid: 'DescribeTenantAlarms',
          actions: ['cloudwatch:DescribeAlarms'],
          resources: [alarms],
        }),
        new iam.PolicyStatement({
          sid: 'DescribeTenantInstances',
          actions: ['rds:DescribeDBInstances'],
          resources: [instances],
        }),
        // A restore's checks and the snapshot listing (POST …/restores, GET …/snapshots): an
        // instance's snapshots (Silo's and RDS's automated ones) and its automated backups (the
        // restorable window; RDS names them at random). Reads only.
        new iam.PolicyStatement({
          sid: 'DescribeTenantBackups',
          actions: ['rds:DescribeDBSnapshots', 'rds:DescribeDBInstanceAutomatedBackups'],
          resources: [
            instances,
            prefixedSnapshots,
            arn('rds', 'snapshot', `rds:${props.prefix}-*`),
            arn('rds', 'auto-backup', '*'),
          ],
        }),
        // An undelete's checks (POST …/undelete): whether the tenant's secrets still wait out
        // their recovery window, and whose they are. Their metadata only, never a value.
        new iam.PolicyStatement({
          sid: 'DescribeTenantSecrets',
          actions: ['secretsmanager:DescribeSecret'],
          resources: [masterSecrets, appSecrets],
        }),
      ],
    });

    this.dataPlane = new iam.ManagedPolicy(this, 'DataPlane', {
      managedPolicyName: policyName(props.names.dataPlanePolicy),
      description: home
        ? `Silo data plane (${props.prefix}): read the tenant directory's login and tenant and host pool application credentials`
        : `Silo data plane (${props.prefix}): read tenant and host pool application credentials in ${props.region}`,
      statements: [
        // The router's login to the tenant directory (the control-plane database's view, as
        // silo_data_plane). The control plane's own secret: no managed-by tag, so by its ARN.
        ...(home
          ? [
              new iam.PolicyStatement({
                sid: 'ReadDataPlaneLogin',
                actions: ['secretsmanager:GetSecretValue'],
                resources: [home.dataPlaneSecretArn],
              }),
            ]
          : []),
        new iam.PolicyStatement({
          sid: 'ReadTenantAppSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [appSecrets],
          conditions: taggedManagedBy(`aws:ResourceTag/${MANAGED_BY_TAG_KEY}`),
        }),
        // The router connects pooled tenants as their host's pool login.
        new iam.PolicyStatement({
          sid: 'ReadHostPoolAppSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [hostPoolAppSecrets],
          conditions: taggedManagedBy(`aws:ResourceTag/${MANAGED_BY_TAG_KEY}`),
        }),
        new iam.PolicyStatement({
          sid: 'DecryptTenantAppSecrets',
          actions: ['kms:Decrypt'],
          resources: [props.tenantKey.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': viaService('secretsmanager') },
            StringLike: {
              'kms:EncryptionContext:SecretARN': [
                ...(home ? [home.dataPlaneSecretArn] : []),
                appSecrets,
                hostPoolAppSecrets,
              ],
            },
          },
        }),
      ],
    });

    // The migration task's `--data-plane-login`: reads the data plane's login secret, writes the
    // control-plane database's endpoint into it (the password kept) and sets that password on
    // the role. The stack makes the secret, so no CreateSecret.
    if (!home) {
      this.migrate = undefined;
      return;
    }
    this.migrate = new iam.ManagedPolicy(this, 'Migrate', {
      managedPolicyName: props.names.migratePolicy,
      description: `Silo control-plane migration (${props.prefix}): keep the data plane's login secret`,
      statements: [
        new iam.PolicyStatement({
          sid: 'KeepDataPlaneLogin',
          actions: [
            'secretsmanager:DescribeSecret',
            'secretsmanager:GetSecretValue',
            'secretsmanager:PutSecretValue',
          ],
          resources: [home.dataPlaneSecretArn],
        }),
        new iam.PolicyStatement({
          sid: 'UseTenantKeyForDataPlaneLogin',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [props.tenantKey.keyArn],
          conditions: {
            StringEquals: {
              'kms:ViaService': viaService('secretsmanager'),
              'kms:EncryptionContext:SecretARN': home.dataPlaneSecretArn,
            },
          },
        }),
      ],
    });
  }
}
