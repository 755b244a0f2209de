import { ArnFormat, Aws, Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { tenantExportKeyPrefix, tenantResourcePatterns, type PrerequisiteNames } from './silo-names';
import { TenantNetwork, type ExistingNetwork } from './tenant-network';

export interface TenantRegionResourcesProps {
  prefix: string;
  names: PrerequisiteNames;
  network?: ExistingNetwork;
  dataPlaneSecurityGroupId?: string;
  /** Create (or take) the control plane's security group: only where the API and worker run. */
  controlPlane: boolean;
  controlPlaneSecurityGroupId?: string;
  /** CIDRs admitted to tenant instances on 5432 besides the security groups. */
  postgresClientCidrs?: readonly string[];
  alarmEmail?: string;
  tenantExportRetentionDays?: number;
}

/** What a region's tenants' data needs there: the key, the alarm topic, the exports bucket, the network. */
export interface TenantRegionResources {
  tenantKey: kms.Key;
  alarmTopic: sns.Topic;
  exportsBucket: s3.Bucket;
  network: TenantNetwork;
  retentionDays: number;
}

/**
 * The resources every region of tenants has, created directly in `stack` (never under a
 * construct of their own): their logical ids are the ones the single-region stack always had, so
 * an existing deployment keeps its key and bucket.
 */
export function addTenantRegionResources(
  stack: Stack,
  props: TenantRegionResourcesProps,
): TenantRegionResources {
  const { names, prefix } = props;

  // Tenant storage, Performance Insights, tenant secrets and the control-plane stores. Kept
  // when the stack is deleted: snapshots and secrets outlive it.
  const tenantKey = new kms.Key(stack, 'TenantKey', {
    alias: names.tenantKeyAlias,
    description: `Silo (${prefix}): tenant RDS storage, Performance Insights and secrets`,
    enableKeyRotation: true,
  });

  // CloudWatch can only publish to a topic whose key lets it: a customer-managed key of its
  // own, so the tenant key's policy never names a service principal.
  const alarmKey = new kms.Key(stack, 'AlarmTopicKey', {
    alias: names.alarmKeyAlias,
    description: `Silo (${prefix}): alarm topic`,
    enableKeyRotation: true,
    pendingWindow: Duration.days(7),
  });
  const patterns = tenantResourcePatterns(prefix);
  // Only this account's tenant alarms, the ones the topic policy lets publish (a service
  // principal acts for every account: without these conditions any account's alarms could).
  const fromTenantAlarms = {
    StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
    ArnLike: {
      'aws:SourceArn': stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: patterns.alarm,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
  };
  alarmKey.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: fromTenantAlarms,
    }),
  );
  const alarmTopic = new sns.Topic(stack, 'AlarmTopic', {
    topicName: names.alarmTopic,
    displayName: `Silo (${prefix}) tenant alarms`,
    masterKey: alarmKey,
    enforceSSL: true,
  });
  alarmTopic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'TenantAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [alarmTopic.topicArn],
      conditions: fromTenantAlarms,
    }),
  );
  if (props.alarmEmail) {
    alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
  }

  // Deleted schema and pool tenants' exports (TENANT_EXPORT_BUCKET), under <prefix>/exports/:
  // encrypted with the tenant key (no bucket key, so each object's ARN is its encryption
  // context), private, TLS only, versioned, expired after the retention. Kept when the stack
  // is deleted, as the key is. The name is CloudFormation's: bucket names are global.
  const retentionDays = props.tenantExportRetentionDays ?? 35;
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 3650) {
    throw new Error(`tenantExportRetentionDays must be 1-3650 days, not ${retentionDays}`);
  }
  const exportsBucket = new s3.Bucket(stack, 'TenantExports', {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: tenantKey,
    bucketKeyEnabled: false,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    versioned: true,
    removalPolicy: RemovalPolicy.RETAIN,
    lifecycleRules: [
      {
        id: 'ExpireTenantExports',
        prefix: tenantExportKeyPrefix(prefix),
        expiration: Duration.days(retentionDays),
        noncurrentVersionExpiration: Duration.days(1),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
    ],
  });

  const network = new TenantNetwork(stack, 'Network', {
    names,
    network: props.network,
    dataPlaneSecurityGroupId: props.dataPlaneSecurityGroupId,
    controlPlane: props.controlPlane,
    controlPlaneSecurityGroupId: props.controlPlaneSecurityGroupId,
    postgresClientCidrs: props.postgresClientCidrs,
  });

  return { tenantKey, alarmTopic, exportsBucket, network, retentionDays };
}
