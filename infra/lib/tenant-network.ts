import { Fn } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import type { PrerequisiteNames } from './silo-names';

/** An existing VPC and the private subnets tenant databases go in (at least two, in two AZs). */
export interface ExistingNetwork {
  vpcId: string;
  privateSubnetIds: readonly string[];
}

export interface TenantNetworkProps {
  names: PrerequisiteNames;
  /** Default: a new VPC with isolated subnets (no internet route) in two AZs. */
  network?: ExistingNetwork;
  /** Security group of the tenant applications (data plane). Default: one is created. */
  dataPlaneSecurityGroupId?: string;
  /**
   * Whether the API and the worker run in this region (the home region): then the control
   * plane's security group is created (or taken) and admitted. Elsewhere the worker arrives from
   * the home region's VPC, which no security group of this region can name: by CIDR.
   */
  controlPlane: boolean;
  /** Security group of the API and the provisioning worker. Default: one is created. */
  controlPlaneSecurityGroupId?: string;
  /**
   * CIDRs admitted to tenant instances on 5432 besides those groups: the home region's worker
   * subnets, and other regions' tenant subnets (a move's target replicates from its source).
   * Default: none.
   */
  postgresClientCidrs?: readonly string[];
}

export const POSTGRES_PORT = 5432;

/**
 * Where tenant instances live: the DB subnet group and the security group the worker passes
 * (RDS_SUBNET_GROUP, RDS_SECURITY_GROUP_IDS), plus the client security groups it admits.
 */
export class TenantNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnetIds: string[];
  readonly subnetGroup: rds.CfnDBSubnetGroup;
  /** On every tenant instance: PostgreSQL from the data plane and the worker, nothing else. */
  readonly tenantSecurityGroup: ec2.SecurityGroup;
  readonly dataPlaneSecurityGroup: ec2.ISecurityGroup;
  /** Undefined outside the home region: no control-plane compute runs there. */
  readonly controlPlaneSecurityGroup: ec2.ISecurityGroup | undefined;

  constructor(scope: Construct, id: string, props: TenantNetworkProps) {
    super(scope, id);
    const { names } = props;

    if (props.network) {
      if (props.network.privateSubnetIds.length < 2) {
        throw new Error('network.privateSubnetIds: RDS needs subnets in at least two availability zones');
      }
      // Only the id is used (security groups); subnets are passed by id, so nothing is looked up.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: props.network.vpcId,
        availabilityZones: Fn.getAzs(),
      });
      this.subnetIds = [...props.network.privateSubnetIds];
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: 'tenants', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
        restrictDefaultSecurityGroup: false,
      });
      this.vpc = vpc;
      this.subnetIds = vpc.isolatedSubnets.map((subnet) => subnet.subnetId);
    }

    this.subnetGroup = new rds.CfnDBSubnetGroup(this, 'SubnetGroup', {
      dbSubnetGroupName: names.tenantSubnetGroup,
      dbSubnetGroupDescription: 'Silo tenant RDS instances',
      subnetIds: this.subnetIds,
    });

    this.dataPlaneSecurityGroup = props.dataPlaneSecurityGroupId
      ? ec2.SecurityGroup.fromSecurityGroupId(this, 'DataPlane', props.dataPlaneSecurityGroupId, {
          mutable: false,
        })
      : new ec2.SecurityGroup(this, 'DataPlane', {
          vpc: this.vpc,
          securityGroupName: names.dataPlaneSecurityGroup,
          description: 'Silo data plane: tenant applications (attach to their compute)',
        });
    if (!props.controlPlane && props.controlPlaneSecurityGroupId) {
      throw new Error('controlPlaneSecurityGroupId is for the home region, where the control plane runs');
    }
    this.controlPlaneSecurityGroup = !props.controlPlane
      ? undefined
      : props.controlPlaneSecurityGroupId
        ? ec2.SecurityGroup.fromSecurityGroupId(this, 'ControlPlane', props.controlPlaneSecurityGroupId, {
            mutable: false,
          })
        : new ec2.SecurityGroup(this, 'ControlPlane', {
            vpc: this.vpc,
            securityGroupName: names.controlPlaneSecurityGroup,
            description: 'Silo control plane: API and provisioning worker (attach to their compute)',
          });

    this.tenantSecurityGroup = new ec2.SecurityGroup(this, 'TenantDatabases', {
      vpc: this.vpc,
      securityGroupName: names.tenantSecurityGroup,
      description: 'Silo tenant RDS instances: PostgreSQL from the data plane and the worker only',
      allowAllOutbound: false,
    });
    // Rules are added on this group only (never on the client groups, which may not be ours).
    this.tenantSecurityGroup.addIngressRule(
      ec2.Peer.securityGroupId(this.dataPlaneSecurityGroup.securityGroupId),
      ec2.Port.tcp(POSTGRES_PORT),
      'data plane: tenant applications reach their database',
    );
    if (this.controlPlaneSecurityGroup) {
      this.tenantSecurityGroup.addIngressRule(
        ec2.Peer.securityGroupId(this.controlPlaneSecurityGroup.securityGroupId),
        ec2.Port.tcp(POSTGRES_PORT),
        'provisioning worker: bootstrap-database and run-migrations connect as the owner',
      );
    }
    for (const cidr of props.postgresClientCidrs ?? []) {
      if (!isIpv4Cidr(cidr))
        throw new Error(`postgresClientCidrs: ${JSON.stringify(cidr)} is not an IPv4 CIDR`);
      this.tenantSecurityGroup.addIngressRule(
        ec2.Peer.ipv4(cidr),
        ec2.Port.tcp(POSTGRES_PORT),
        "over the peering: the home region's worker, or another region's instances replicating a move",
      );
    }
  }
}

export function isIpv4Cidr(value: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  return Boolean(m && m.slice(1, 5).every((octet) => Number(octet) <= 255) && Number(m[5]) <= 32);
}
