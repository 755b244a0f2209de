import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { AWS_REGION_PATTERN } from '../../libs/config/src/region-settings';
import type { DeploymentOutputKey } from './config-outputs';
import { SiloAccessPolicies } from './silo-access-policies';
import { assertResourcePrefix, assertSiloEnvironment, prerequisiteNames } from './silo-names';
import { PREREQUISITES_TAG } from './silo-prerequisites.stack';
import { addTenantRegionResources } from './tenant-region-resources';
import type { ExistingNetwork, TenantNetwork } from './tenant-network';

export interface SiloRegionPrerequisitesProps extends StackProps {
  /** The region this stack serves: also its `env.region`, the one it deploys to. */
  region: string;
  /** The home region's stack's `resourcePrefix`. Default: `silo`. */
  resourcePrefix?: string;
  /** The home region's stack's `siloEnvironment`. Default: `production`. */
  siloEnvironment?: string;
  /** This region's VPC and private subnets for tenant instances. Default: a new VPC. */
  network?: ExistingNetwork;
  /** Security group of this region's tenant applications. Default: one is created. */
  dataPlaneSecurityGroupId?: string;
  /**
   * CIDRs admitted to this region's tenant instances on 5432, over VPC peering or a Transit
   * Gateway: the home region's worker subnets (bootstrap-database and run-migrations connect from
   * there) and other regions' tenant subnets (a move's target replicates from its source).
   * At least one: without the worker's, no tenant of this region gets past its bootstrap.
   */
  postgresClientCidrs: readonly string[];
  /** Address subscribed to this region's alarm topic. Default: none. */
  alarmEmail?: string;
  /** The home region's TENANT_EXPORT_RETENTION_DAYS (one setting for every region). Default: 35. */
  tenantExportRetentionDays?: number;
}

/** The entry of SILO_REGION_SETTINGS_FILE this stack's resources make (libs/config `RegionSettings`). */
export interface RegionSettingsEntry {
  kmsKeyId: string;
  subnetGroup: string;
  securityGroupIds: string[];
  alarmTopicArn: string;
  exportBucket: string;
}

/**
 * A region of tenants other than the home one: what their data needs in it (the KMS key, the
 * alarm topic, the exports bucket, the subnet group and security groups) and the worker's, API's
 * and data plane's policies for its resources (`<name>-<region>`: IAM names are global). Names
 * are the home stack's: KMS aliases, topics, subnet groups and secrets are per region in AWS. The
 * control plane itself (its stores, the data plane's login, the migration's policy) is in the
 * home region only. Its output `RegionSettingsEntry` is this region's entry of
 * SILO_REGION_SETTINGS_FILE.
 */
export class SiloRegionPrerequisitesStack extends Stack {
  readonly tenantRegion: string;
  readonly prefix: string;
  readonly siloEnvironment: string;
  readonly tenantKey: kms.Key;
  readonly alarmTopic: sns.Topic;
  readonly exportsBucket: s3.Bucket;
  readonly network: TenantNetwork;
  readonly policies: SiloAccessPolicies;

  constructor(scope: Construct, id: string, props: SiloRegionPrerequisitesProps) {
    if (!AWS_REGION_PATTERN.test(props.region)) {
      throw new Error(`region ${JSON.stringify(props.region)} is not an AWS region such as eu-west-1`);
    }
    if (props.env?.region !== undefined && props.env.region !== props.region) {
      throw new Error(`the stack of ${props.region} deploys to ${props.region}, not ${props.env.region}`);
    }
    super(scope, id, { ...props, env: { ...props.env, region: props.region } });
    this.tenantRegion = props.region;
    this.prefix = assertResourcePrefix(props.resourcePrefix ?? 'silo');
    this.siloEnvironment = assertSiloEnvironment(props.siloEnvironment ?? 'production');
    if (props.postgresClientCidrs.length === 0) {
      throw new Error(
        `postgresClientCidrs of ${props.region}: give at least the home region's worker subnets (the worker connects to every tenant database it bootstraps)`,
      );
    }
    const names = prerequisiteNames(this.prefix);
    Tags.of(this).add(PREREQUISITES_TAG.key, PREREQUISITES_TAG.value);

    const resources = addTenantRegionResources(this, {
      prefix: this.prefix,
      names,
      network: props.network,
      dataPlaneSecurityGroupId: props.dataPlaneSecurityGroupId,
      controlPlane: false,
      postgresClientCidrs: props.postgresClientCidrs,
      alarmEmail: props.alarmEmail,
      tenantExportRetentionDays: props.tenantExportRetentionDays,
    });
    this.tenantKey = resources.tenantKey;
    this.alarmTopic = resources.alarmTopic;
    this.exportsBucket = resources.exportsBucket;
    this.network = resources.network;

    this.policies = new SiloAccessPolicies(this, 'Policies', {
      prefix: this.prefix,
      names,
      tenantKey: this.tenantKey,
      subnetGroupName: names.tenantSubnetGroup,
      exportsBucket: this.exportsBucket,
      environment: this.siloEnvironment,
      region: props.region,
    });

    const entry: RegionSettingsEntry = {
      kmsKeyId: this.tenantKey.keyArn,
      subnetGroup: this.network.subnetGroup.ref,
      securityGroupIds: [this.network.tenantSecurityGroup.securityGroupId],
      alarmTopicArn: this.alarmTopic.topicArn,
      exportBucket: this.exportsBucket.bucketName,
    };
    this.output('TenantRegion', props.region, 'the region whose tenants this stack serves');
    this.output(
      'RegionSettingsEntry',
      this.toJsonString(entry),
      `SILO_REGION_SETTINGS_FILE's entry for ${props.region} (infra:env -- <outputs.json> --region-settings)`,
    );
    this.output(
      'DataPlaneSecurityGroupId',
      this.network.dataPlaneSecurityGroup.securityGroupId,
      `attach to the tenant applications in ${props.region}`,
    );
    this.output(
      'ProvisioningWorkerPolicyArn',
      this.policies.worker.managedPolicyArn,
      `attach to the provisioning worker's role, beside the home region's (the services stack does)`,
    );
    this.output(
      'ControlPlaneApiPolicyArn',
      this.policies.api.managedPolicyArn,
      `attach to the API's role, beside the home region's (the services stack does)`,
    );
    this.output(
      'DataPlanePolicyArn',
      this.policies.dataPlane.managedPolicyArn,
      `attach to the tenant applications' role, beside the home region's`,
    );
  }

  private output(key: DeploymentOutputKey, value: string, description: string): void {
    new CfnOutput(this, key, { value, description });
  }
}
