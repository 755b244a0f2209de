import { Aws, CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { EnvironmentVariable } from '../../libs/config/src/config.schema';
import { dataPlaneRole, dataPlaneSecretTags } from '../../libs/core/src/provisioning/control-plane-names';
import { outputKeyFor, type DeploymentOutputKey } from './config-outputs';
import {
  CONTROL_PLANE_DATABASE_NAME,
  CONTROL_PLANE_DATABASE_USER,
  ControlPlaneDatabase,
  ControlPlaneRedis,
} from './control-plane-stores';
import { SiloAccessPolicies } from './silo-access-policies';
import { assertResourcePrefix, assertSiloEnvironment, prerequisiteNames } from './silo-names';
import { addTenantRegionResources } from './tenant-region-resources';
import type { ExistingNetwork, TenantNetwork } from './tenant-network';

export interface SiloPrerequisitesProps extends StackProps {
  /** SILO_RESOURCE_PREFIX of the control plane this account serves. Default: `silo`. */
  resourcePrefix?: string;
  /**
   * SILO_ENVIRONMENT of that control plane: the worker's policy lets it tag, change and delete
   * only resources tagged `silo:environment` = this. Default: `production` (the services stack's).
   */
  siloEnvironment?: string;
  /**
   * VPC and private subnets for tenant instances (and the optional control-plane stores).
   * Default: a new VPC with isolated subnets in two AZs.
   */
  network?: ExistingNetwork;
  /** Security group of the tenant applications. Default: one is created (`<prefix>-data-plane`). */
  dataPlaneSecurityGroupId?: string;
  /** Security group of the API and worker. Default: one is created (`<prefix>-control-plane`). */
  controlPlaneSecurityGroupId?: string;
  /**
   * CIDRs admitted to tenant instances on 5432 besides the two security groups: other regions'
   * tenant subnets, so that a move's target there replicates from its source here (over VPC
   * peering or a Transit Gateway). Default: none.
   */
  postgresClientCidrs?: readonly string[];
  /** Address subscribed to the alarm topic (the subscription must be confirmed). Default: none. */
  alarmEmail?: string;
  /**
   * TENANT_EXPORT_RETENTION_DAYS of the worker: exports expire this many days after they are
   * written (the bucket's lifecycle rule). Default: 35, the configuration's.
   */
  tenantExportRetentionDays?: number;
  /** Create the control plane's own PostgreSQL (RDS). Default: false. */
  controlPlaneDatabase?: boolean;
  /** Create the control plane's own Redis (ElastiCache). Default: false. */
  controlPlaneRedis?: boolean;
}

/** Tag on everything this stack creates. Never `managed-by=silo`: that marks tenant resources. */
export const PREREQUISITES_TAG = { key: 'silo:component', value: 'prerequisites' } as const;

/**
 * What Silo needs in an AWS account before the worker can provision a tenant: the KMS key, the
 * alarm topic, the network for tenant instances, the four IAM policies, the data plane's login
 * secret and, optionally, the
 * control plane's own PostgreSQL and Redis. Its outputs are the worker's and API's configuration.
 * This is the home region's stack, where the control plane runs; every other region of tenants
 * has a `SiloRegionPrerequisitesStack` of its own.
 */
export class SiloPrerequisitesStack extends Stack {
  readonly prefix: string;
  readonly siloEnvironment: string;
  readonly tenantKey: kms.Key;
  readonly alarmTopic: sns.Topic;
  readonly exportsBucket: s3.Bucket;
  readonly network: TenantNetwork;
  readonly policies: SiloAccessPolicies;
  readonly dataPlaneLogin: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: SiloPrerequisitesProps = {}) {
    super(scope, id, props);
    this.prefix = assertResourcePrefix(props.resourcePrefix ?? 'silo');
    this.siloEnvironment = assertSiloEnvironment(props.siloEnvironment ?? 'production');
    const names = prerequisiteNames(this.prefix);
    Tags.of(this).add(PREREQUISITES_TAG.key, PREREQUISITES_TAG.value);

    const region = addTenantRegionResources(this, {
      prefix: this.prefix,
      names,
      network: props.network,
      dataPlaneSecurityGroupId: props.dataPlaneSecurityGroupId,
      controlPlane: true,
      controlPlaneSecurityGroupId: props.controlPlaneSecurityGroupId,
      postgresClientCidrs: props.postgresClientCidrs,
      alarmEmail: props.alarmEmail,
      tenantExportRetentionDays: props.tenantExportRetentionDays,
    });
    this.tenantKey = region.tenantKey;
    this.alarmTopic = region.alarmTopic;
    this.exportsBucket = region.exportsBucket;
    this.network = region.network;
    const retentionDays = region.retentionDays;
    const controlPlaneSecurityGroup =
      this.network.controlPlaneSecurityGroup ?? fail('the home region has a control-plane security group');
    const storeNetwork = {
      vpc: this.network.vpc,
      subnetIds: this.network.subnetIds,
      dataPlaneSecurityGroup: this.network.dataPlaneSecurityGroup,
      controlPlaneSecurityGroup,
    };

    // The data plane's login to the control-plane database: the role's name and a generated
    // password, under the tenant key as the control-plane database's secret is. The migration
    // task's `--data-plane-login` writes DATABASE_URL's endpoint into it (keeping the password)
    // and gives the role silo_data_plane that password. Tagged as the login step tags the one it
    // makes: the control plane's, never managed-by=silo (so never a reconciler orphan).
    this.dataPlaneLogin = new secretsmanager.Secret(this, 'DataPlaneLogin', {
      secretName: names.dataPlaneSecret,
      description: `Silo (${this.prefix}): the data plane's login to the control-plane database, ${dataPlaneRole(CONTROL_PLANE_DATABASE_NAME)}`,
      encryptionKey: this.tenantKey,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({
          engine: 'postgres',
          username: dataPlaneRole(CONTROL_PLANE_DATABASE_NAME),
        }),
        generateStringKey: 'password',
        passwordLength: 32,
        excludePunctuation: true,
      },
    });
    for (const [key, value] of Object.entries(dataPlaneSecretTags(this.siloEnvironment))) {
      Tags.of(this.dataPlaneLogin).add(key, value);
    }

    this.policies = new SiloAccessPolicies(this, 'Policies', {
      prefix: this.prefix,
      names,
      tenantKey: this.tenantKey,
      subnetGroupName: names.tenantSubnetGroup,
      exportsBucket: this.exportsBucket,
      environment: this.siloEnvironment,
      home: { dataPlaneSecretArn: this.dataPlaneLogin.secretArn },
    });

    this.configOutput('AWS_REGION', Aws.REGION, 'region of the tenant resources');
    this.configOutput('SILO_RESOURCE_PREFIX', this.prefix, 'prefix of every tenant resource name');
    this.configOutput(
      'SILO_ENVIRONMENT',
      this.siloEnvironment,
      'the silo:environment tag the worker policy allows',
    );
    this.configOutput('KMS_KEY_ID', this.tenantKey.keyArn, `key ${names.tenantKeyAlias}`);
    this.configOutput('ALARM_SNS_TOPIC_ARN', this.alarmTopic.topicArn, 'alarm actions');
    this.configOutput(
      'TENANT_EXPORT_BUCKET',
      this.exportsBucket.bucketName,
      'exports of deleted schema and pool tenants',
    );
    this.configOutput(
      'TENANT_EXPORT_RETENTION_DAYS',
      String(retentionDays),
      "the exports bucket's lifecycle expiry",
    );
    this.configOutput(
      'RDS_SUBNET_GROUP',
      this.network.subnetGroup.ref,
      'DB subnet group of tenant instances',
    );
    this.configOutput(
      'RDS_SECURITY_GROUP_IDS',
      this.network.tenantSecurityGroup.securityGroupId,
      'security group of tenant instances',
    );

    this.deploymentOutput(
      'DataPlaneSecurityGroupId',
      this.network.dataPlaneSecurityGroup.securityGroupId,
      'attach to the tenant applications (data plane)',
    );
    this.deploymentOutput(
      'ControlPlaneSecurityGroupId',
      controlPlaneSecurityGroup.securityGroupId,
      'attach to the API and the provisioning worker',
    );
    this.deploymentOutput(
      'ProvisioningWorkerPolicyArn',
      this.policies.worker.managedPolicyArn,
      "attach to the provisioning worker's role",
    );
    this.deploymentOutput(
      'ControlPlaneApiPolicyArn',
      this.policies.api.managedPolicyArn,
      "attach to the API's role",
    );
    this.deploymentOutput(
      'DataPlanePolicyArn',
      this.policies.dataPlane.managedPolicyArn,
      "attach to the tenant applications' role",
    );
    this.deploymentOutput(
      'ControlPlaneMigratePolicyArn',
      (this.policies.migrate ?? fail('the home region has the migration policy')).managedPolicyArn,
      "attach to the control-plane migration's role (the services stack does)",
    );
    this.deploymentOutput(
      'DataPlaneSecretArn',
      this.dataPlaneLogin.secretArn,
      "the data plane's login to the control-plane database (TENANT_DIRECTORY_SECRET of the tenant applications)",
    );

    if (props.controlPlaneDatabase) {
      const database = new ControlPlaneDatabase(this, 'ControlPlaneDatabase', {
        names,
        network: storeNetwork,
        key: this.tenantKey,
      });
      const endpoint = database.instance.instanceEndpoint;
      this.configOutput(
        'DATABASE_URL',
        `postgresql://${CONTROL_PLANE_DATABASE_USER}@${endpoint.hostname}:${endpoint.port}/${CONTROL_PLANE_DATABASE_NAME}?sslmode=verify-full`,
        'control-plane PostgreSQL without its password (see DatabaseSecretArn)',
      );
      this.deploymentOutput(
        'DatabaseSecretArn',
        database.secret.secretArn,
        'control-plane PostgreSQL credentials (field "password")',
      );
    }
    if (props.controlPlaneRedis) {
      const redis = new ControlPlaneRedis(this, 'ControlPlaneRedis', {
        names,
        network: storeNetwork,
        key: this.tenantKey,
      });
      this.configOutput(
        'REDIS_URL',
        `rediss://${redis.replicationGroup.attrPrimaryEndPointAddress}:${redis.port}`,
        'control-plane Redis without its AUTH token (see RedisAuthTokenSecretArn)',
      );
      this.deploymentOutput(
        'RedisAuthTokenSecretArn',
        redis.authToken.secretArn,
        'control-plane Redis AUTH token',
      );
    }
  }

  /** An output per configuration variable, keyed by the variable in PascalCase (KMS_KEY_ID → KmsKeyId). */
  private configOutput(variable: EnvironmentVariable, value: string, description: string): void {
    new CfnOutput(this, outputKeyFor(variable), { value, description: `${variable}: ${description}` });
  }

  private deploymentOutput(key: DeploymentOutputKey, value: string, description: string): void {
    new CfnOutput(this, key, { value, description });
  }
}

function fail(message: string): never {
  throw new Error(message);
}
