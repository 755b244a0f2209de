import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { PrerequisiteNames } from './silo-names';
import { POSTGRES_PORT } from './tenant-network';

const REDIS_PORT = 6379;
export const CONTROL_PLANE_DATABASE_NAME = 'silo';
export const CONTROL_PLANE_DATABASE_USER = 'silo_admin';

interface StoreNetwork {
  vpc: ec2.IVpc;
  subnetIds: string[];
  controlPlaneSecurityGroup: ec2.ISecurityGroup;
  dataPlaneSecurityGroup: ec2.ISecurityGroup;
}

export interface ControlPlaneStoreProps {
  names: PrerequisiteNames;
  network: StoreNetwork;
  key: kms.IKey;
}

/**
 * The control plane's own PostgreSQL (DATABASE_URL): encrypted with the stack's key, TLS-only
 * (PostgreSQL 16 on RDS sets rds.force_ssl), Multi-AZ, deletion-protected, snapshotted on
 * removal. The API and worker reach it, and the data plane, which reads tenant status from it.
 */
export class ControlPlaneDatabase extends Construct {
  readonly instance: rds.DatabaseInstance;
  readonly secret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: ControlPlaneStoreProps) {
    super(scope, id);
    const { names, network } = props;
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: network.vpc,
      description: 'Silo control-plane PostgreSQL: from the control plane and the data plane only',
      allowAllOutbound: false,
    });
    securityGroup.addIngressRule(
      ec2.Peer.securityGroupId(network.controlPlaneSecurityGroup.securityGroupId),
      ec2.Port.tcp(POSTGRES_PORT),
      'API and provisioning worker',
    );
    securityGroup.addIngressRule(
      ec2.Peer.securityGroupId(network.dataPlaneSecurityGroup.securityGroupId),
      ec2.Port.tcp(POSTGRES_PORT),
      'data plane: the tenant router reads tenant status',
    );
    const subnetGroup = new rds.CfnDBSubnetGroup(this, 'SubnetGroup', {
      dbSubnetGroupDescription: 'Silo control-plane PostgreSQL',
      subnetIds: network.subnetIds,
    });

    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      instanceIdentifier: names.controlPlaneDatabaseInstance,
      // A minor RDS still creates instances with (cfn-lint, in npm test, knows AWS's deprecated
      // ones, majors alone included); minor upgrades are RDS's, in the maintenance window.
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL),
      vpc: network.vpc,
      subnetGroup: rds.SubnetGroup.fromSubnetGroupName(this, 'Subnets', subnetGroup.ref),
      securityGroups: [securityGroup],
      publiclyAccessible: false,
      credentials: rds.Credentials.fromGeneratedSecret(CONTROL_PLANE_DATABASE_USER, {
        secretName: names.controlPlaneDatabaseSecret,
        encryptionKey: props.key,
      }),
      databaseName: CONTROL_PLANE_DATABASE_NAME,
      storageType: rds.StorageType.GP3,
      allocatedStorage: 20,
      storageEncrypted: true,
      storageEncryptionKey: props.key,
      multiAz: true,
      backupRetention: Duration.days(7),
      copyTagsToSnapshot: true,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      autoMinorVersionUpgrade: true,
      caCertificate: rds.CaCertificate.RDS_CA_RSA2048_G1,
    });
    this.secret = this.instance.secret!;
  }
}

/**
 * The control plane's Redis (REDIS_URL, BullMQ): ElastiCache with TLS in transit, encryption at
 * rest under the stack's key, an AUTH token kept in Secrets Manager, a replica in a second AZ
 * with automatic failover, and `maxmemory-policy noeviction` (BullMQ loses jobs otherwise).
 */
export class ControlPlaneRedis extends Construct {
  readonly replicationGroup: elasticache.CfnReplicationGroup;
  readonly authToken: secretsmanager.Secret;
  readonly port = REDIS_PORT;

  constructor(scope: Construct, id: string, props: ControlPlaneStoreProps) {
    super(scope, id);
    const { names, network } = props;
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: network.vpc,
      description: 'Silo control-plane Redis: from the control plane only',
      allowAllOutbound: false,
    });
    securityGroup.addIngressRule(
      ec2.Peer.securityGroupId(network.controlPlaneSecurityGroup.securityGroupId),
      ec2.Port.tcp(REDIS_PORT),
      'API and provisioning worker',
    );
    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'Silo control-plane Redis',
      subnetIds: network.subnetIds,
    });
    const parameters = new elasticache.CfnParameterGroup(this, 'Parameters', {
      cacheParameterGroupFamily: 'redis7',
      description: 'Silo control-plane Redis: BullMQ needs noeviction',
      properties: { 'maxmemory-policy': 'noeviction' },
    });
    // ElastiCache AUTH tokens: 16-128 printable characters without @, " or /.
    this.authToken = new secretsmanager.Secret(this, 'AuthToken', {
      secretName: names.controlPlaneRedisSecret,
      description: 'Silo control-plane Redis AUTH token',
      encryptionKey: props.key,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });

    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupId: names.controlPlaneRedis,
      replicationGroupDescription: 'Silo control-plane Redis (BullMQ)',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: 'cache.t4g.small',
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      port: REDIS_PORT,
      cacheSubnetGroupName: subnetGroup.ref,
      cacheParameterGroupName: parameters.ref,
      securityGroupIds: [securityGroup.securityGroupId],
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      kmsKeyId: props.key.keyArn,
      // A CloudFormation dynamic reference: the token itself never enters the template.
      authToken: this.authToken.secretValue.unsafeUnwrap(),
      snapshotRetentionLimit: 1,
      autoMinorVersionUpgrade: true,
    });
  }
}
