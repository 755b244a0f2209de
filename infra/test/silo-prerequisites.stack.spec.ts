import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { prerequisiteNames } from '../lib/silo-names';
import { SiloPrerequisitesStack } from '../lib/silo-prerequisites.stack';
import { render, synth, type TemplateJson } from './template-helpers';

const root = resolve(__dirname, '../..');
const DATA_PLANE_SG = 'sg-0123456789abcdef0';
const CONTROL_PLANE_SG = 'sg-0fedcba9876543210';
const SUBNETS = ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'];

const byDefault = synth();
const full = synth({ controlPlaneDatabase: true, controlPlaneRedis: true, alarmEmail: 'ops@example.com' });
const existing = synth({
  resourcePrefix: 'acme',
  network: { vpcId: 'vpc-0123456789abcdef0', privateSubnetIds: SUBNETS },
  dataPlaneSecurityGroupId: DATA_PLANE_SG,
  controlPlaneSecurityGroupId: CONTROL_PLANE_SG,
  controlPlaneDatabase: true,
  controlPlaneRedis: true,
});

const resourcesOfType = (json: TemplateJson, type: string) =>
  Object.entries(json.Resources).filter(([, r]) => r.Type === type);
const logicalIdOf = (json: TemplateJson, type: string, match: (p: Record<string, unknown>) => boolean) => {
  const found = resourcesOfType(json, type).filter(([, r]) => match(r.Properties ?? {}));
  expect(found).toHaveLength(1);
  return found[0][0];
};

describe('encryption', () => {
  it('rotates every KMS key and keeps the tenant key when the stack is deleted', () => {
    const keys = resourcesOfType(full.json, 'AWS::KMS::Key');
    expect(keys).toHaveLength(2);
    for (const [, key] of keys) expect(key.Properties?.EnableKeyRotation).toBe(true);
    full.template.hasResource('AWS::KMS::Key', {
      Properties: { Description: Match.stringLikeRegexp('tenant RDS storage') },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    full.template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/silo-tenants' });
  });

  it('keeps tenant exports in a private, versioned bucket under the tenant key, expiring <prefix>/exports/ after the retention', () => {
    const buckets = resourcesOfType(full.json, 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(1);
    const [[id, bucket]] = buckets;
    expect(bucket.DeletionPolicy).toBe('Retain');
    const p = bucket.Properties ?? {};
    expect(p.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: false,
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: 'aws:kms',
            KMSMasterKeyID: { 'Fn::GetAtt': ['TenantKey8692782D', 'Arn'] },
          },
        },
      ],
    });
    expect(p.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(p.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(p.LifecycleConfiguration).toEqual({
      Rules: [
        {
          Id: 'ExpireTenantExports',
          Prefix: 'silo/exports/',
          Status: 'Enabled',
          ExpirationInDays: 35,
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
      ],
    });
    full.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    const days = synth({ tenantExportRetentionDays: 90 }).json;
    expect(render(days.Outputs?.TenantExportRetentionDays.Value)).toBe('90');
    expect(() => new SiloPrerequisitesStack(new App(), 'Bad', { tenantExportRetentionDays: 0 })).toThrow(
      /tenantExportRetentionDays must be 1-3650 days/,
    );
  });

  it('encrypts the alarm topic under its own key, which CloudWatch may use', () => {
    const alarmKey = logicalIdOf(full.json, 'AWS::KMS::Key', (p) =>
      String(p.Description).includes('alarm topic'),
    );
    full.template.hasResourceProperties('AWS::SNS::Topic', {
      TopicName: 'silo-alarms',
      KmsMasterKeyId: { 'Fn::GetAtt': [alarmKey, 'Arn'] },
    });
    full.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'CloudWatchAlarmsPublish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
  });

  it("lets CloudWatch use the alarm key for this account's tenant alarms only (aws:SourceAccount, aws:SourceArn)", () => {
    for (const [json, prefix] of [
      [full.json, 'silo'],
      [existing.json, 'acme'],
    ] as const) {
      const alarmKey = resourcesOfType(json, 'AWS::KMS::Key').find(([, k]) =>
        String(k.Properties?.Description).includes('alarm topic'),
      )![1];
      const statements = (alarmKey.Properties?.KeyPolicy as { Statement: Record<string, unknown>[] })
        .Statement;
      const cloudWatch = statements.filter((s) =>
        JSON.stringify(s.Principal).includes('cloudwatch.amazonaws.com'),
      ) as { Sid: string; Condition: { ArnLike: Record<string, unknown>; StringEquals: unknown } }[];
      expect(cloudWatch.map((s) => s.Sid)).toEqual(['CloudWatchAlarmsPublish']);
      const [statement] = cloudWatch;
      expect(Object.keys(statement.Condition).sort()).toEqual(['ArnLike', 'StringEquals']);
      expect(statement.Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
      expect(Object.keys(statement.Condition.ArnLike)).toEqual(['aws:SourceArn']);
      expect(render(statement.Condition.ArnLike['aws:SourceArn'])).toBe(
        `arn:\${AWS::Partition}:cloudwatch:\${AWS::Region}:\${AWS::AccountId}:alarm:${prefix}-*-*`,
      );
    }
  });

  it('lets only this account’s tenant alarms publish, over TLS', () => {
    const statements = resourcesOfType(full.json, 'AWS::SNS::TopicPolicy')
      .flatMap(
        ([, r]) => (r.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
      )
      .map((s): Record<string, unknown> => ({ ...s, Resource: undefined }));
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({
          Sid: 'TenantAlarmsPublish',
          Effect: 'Allow',
          Action: 'sns:Publish',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
        }),
      ]),
    );
    const publish = statements.find((s) => s.Sid === 'TenantAlarmsPublish') as unknown as {
      Condition: { ArnLike: Record<string, unknown>; StringEquals: Record<string, unknown> };
    };
    expect(render(publish.Condition.ArnLike['aws:SourceArn'])).toBe(
      'arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:silo-*-*',
    );
    expect(publish.Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
  });

  it('subscribes the alarm email only when one is given', () => {
    full.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    byDefault.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it("encrypts the control-plane PostgreSQL, its secret, the data plane's login and the Redis AUTH token with the tenant key", () => {
    const tenantKey = {
      'Fn::GetAtt': [
        logicalIdOf(full.json, 'AWS::KMS::Key', (p) => String(p.Description).includes('tenant RDS')),
        'Arn',
      ],
    };
    full.template.hasResourceProperties('AWS::RDS::DBInstance', {
      DBInstanceIdentifier: 'silocontrolplane',
      StorageEncrypted: true,
      KmsKeyId: tenantKey,
      PubliclyAccessible: false,
      DeletionProtection: true,
      MultiAZ: true,
    });
    full.template.hasResource('AWS::RDS::DBInstance', { DeletionPolicy: 'Snapshot' });
    for (const [, secret] of resourcesOfType(full.json, 'AWS::SecretsManager::Secret')) {
      expect(secret.Properties?.KmsKeyId).toEqual(tenantKey);
    }
    expect(resourcesOfType(full.json, 'AWS::SecretsManager::Secret')).toHaveLength(3);
  });

  it('encrypts the control-plane Redis in transit and at rest, with an AUTH token from Secrets Manager', () => {
    full.template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
      KmsKeyId: Match.anyValue(),
      AutomaticFailoverEnabled: true,
      MultiAZEnabled: true,
    });
    const group = resourcesOfType(full.json, 'AWS::ElastiCache::ReplicationGroup')[0][1].Properties!;
    expect(render(group.AuthToken)).toMatch(
      /^\{\{resolve:secretsmanager:\$\{ControlPlaneRedisAuthToken[A-Z0-9]+\}:SecretString:::\}\}$/,
    );
    full.template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', {
      Properties: { 'maxmemory-policy': 'noeviction' },
    });
  });

  it("creates no control-plane stores unless asked, only the data plane's login secret", () => {
    byDefault.template.resourceCountIs('AWS::RDS::DBInstance', 0);
    byDefault.template.resourceCountIs('AWS::ElastiCache::ReplicationGroup', 0);
    expect(
      resourcesOfType(byDefault.json, 'AWS::SecretsManager::Secret').map(([, r]) => r.Properties?.Name),
    ).toEqual(['silo/control-plane/data-plane']);
  });
});

describe("the data plane's login secret", () => {
  const [[logicalId, secret]] = resourcesOfType(byDefault.json, 'AWS::SecretsManager::Secret');

  it('holds the role silo_data_plane and a generated password, in the app secret shape the login step completes', () => {
    expect(secret.Properties?.GenerateSecretString).toEqual({
      SecretStringTemplate: JSON.stringify({ engine: 'postgres', username: 'silo_data_plane' }),
      GenerateStringKey: 'password',
      PasswordLength: 32,
      ExcludePunctuation: true,
    });
    expect(secret.Properties?.KmsKeyId).toEqual({
      'Fn::GetAtt': [
        logicalIdOf(byDefault.json, 'AWS::KMS::Key', (p) => String(p.Description).includes('tenant RDS')),
        'Arn',
      ],
    });
  });

  it("is tagged as the control plane's own for its environment, never managed-by=silo, so no reconciler pass calls it an orphan", () => {
    expect(secret.Properties?.Tags).toEqual([
      { Key: 'silo:component', Value: 'control-plane' },
      { Key: 'silo:environment', Value: 'production' },
    ]);
    const staging = synth({ siloEnvironment: 'staging' });
    const [[, theirs]] = resourcesOfType(staging.json, 'AWS::SecretsManager::Secret');
    expect(theirs.Properties?.Tags).toContainEqual({ Key: 'silo:environment', Value: 'staging' });
  });

  it('outputs its ARN and the migration policy that keeps it', () => {
    expect(render(byDefault.json.Outputs?.DataPlaneSecretArn.Value)).toBe(`\${${logicalId}}`);
    expect(render(byDefault.json.Outputs?.ControlPlaneMigratePolicyArn.Value)).toMatch(
      /^\$\{PoliciesMigrate[A-Z0-9]+\}$/,
    );
  });
});

describe('network', () => {
  it('creates a VPC with isolated subnets only when no network is given', () => {
    byDefault.template.resourceCountIs('AWS::EC2::VPC', 1);
    byDefault.template.resourceCountIs('AWS::EC2::Subnet', 2);
    byDefault.template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    byDefault.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    byDefault.template.resourceCountIs('AWS::EC2::Route', 0);
    const subnets = resourcesOfType(byDefault.json, 'AWS::EC2::Subnet').map(([id]) => ({ Ref: id }));
    byDefault.template.hasResourceProperties('AWS::RDS::DBSubnetGroup', {
      DBSubnetGroupName: 'silo-tenants',
      SubnetIds: Match.arrayEquals(subnets),
    });
  });

  it('uses the given private subnets and creates no VPC', () => {
    existing.template.resourceCountIs('AWS::EC2::VPC', 0);
    existing.template.resourceCountIs('AWS::EC2::Subnet', 0);
    existing.template.hasResourceProperties('AWS::RDS::DBSubnetGroup', {
      DBSubnetGroupName: 'acme-tenants',
      SubnetIds: SUBNETS,
    });
    existing.template.hasResourceProperties('AWS::ElastiCache::SubnetGroup', { SubnetIds: SUBNETS });
  });

  it('admits PostgreSQL to tenant instances from the data plane and the worker only', () => {
    existing.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupName: 'acme-tenant-db',
      SecurityGroupIngress: Match.arrayEquals([
        Match.objectEquals({
          IpProtocol: 'tcp',
          FromPort: 5432,
          ToPort: 5432,
          SourceSecurityGroupId: DATA_PLANE_SG,
          Description: Match.anyValue(),
        }),
        Match.objectEquals({
          IpProtocol: 'tcp',
          FromPort: 5432,
          ToPort: 5432,
          SourceSecurityGroupId: CONTROL_PLANE_SG,
          Description: Match.anyValue(),
        }),
      ]),
      // CDK's placeholder rule for "no egress at all".
      SecurityGroupEgress: [Match.objectLike({ CidrIp: '255.255.255.255/32' })],
    });
    for (const [, group] of resourcesOfType(full.json, 'AWS::EC2::SecurityGroup')) {
      for (const rule of (group.Properties?.SecurityGroupIngress as Record<string, unknown>[] | undefined) ??
        []) {
        expect(rule).not.toHaveProperty('CidrIp');
        expect(rule).toHaveProperty('SourceSecurityGroupId');
      }
    }
  });

  it('creates the client security groups only when none are given, and never changes given ones', () => {
    full.template.hasResourceProperties('AWS::EC2::SecurityGroup', { GroupName: 'silo-data-plane' });
    full.template.hasResourceProperties('AWS::EC2::SecurityGroup', { GroupName: 'silo-control-plane' });
    expect(
      resourcesOfType(existing.json, 'AWS::EC2::SecurityGroup').map(
        ([, g]) => g.Properties?.GroupName ?? '(unnamed)',
      ),
    ).toEqual(['acme-tenant-db', '(unnamed)', '(unnamed)']);
    const standalone = [
      ...resourcesOfType(existing.json, 'AWS::EC2::SecurityGroupIngress'),
      ...resourcesOfType(existing.json, 'AWS::EC2::SecurityGroupEgress'),
    ];
    for (const [, rule] of standalone) {
      expect([DATA_PLANE_SG, CONTROL_PLANE_SG]).not.toContain(rule.Properties?.GroupId);
    }
  });

  it('admits the control plane to its stores, and the data plane to PostgreSQL only', () => {
    const ingress = (description: RegExp) =>
      resourcesOfType(existing.json, 'AWS::EC2::SecurityGroup')
        .filter(([, g]) => description.test(String(g.Properties?.GroupDescription)))
        .flatMap(([, g]) => g.Properties?.SecurityGroupIngress as Record<string, unknown>[])
        .map((rule) => `${String(rule.FromPort)} ${String(rule.SourceSecurityGroupId)}`);
    expect(ingress(/control-plane PostgreSQL/)).toEqual([
      `5432 ${CONTROL_PLANE_SG}`,
      `5432 ${DATA_PLANE_SG}`,
    ]);
    expect(ingress(/control-plane Redis/)).toEqual([`6379 ${CONTROL_PLANE_SG}`]);
  });
});

describe('names', () => {
  it('derives every name and ARN from the prefix', () => {
    const text = JSON.stringify(existing.json);
    // "silo" may remain only in tag keys (silo:…), as the managed-by value and inside the
    // control-plane database (its name, its user and the data plane's role), which are not AWS names.
    const leftovers = [...text.matchAll(/.{0,30}silo(?!:).{0,10}/g)]
      .map((m) => m[0])
      .filter((s) => !/managed-by":"silo"|silo_admin|silo_data_plan|"DBName":"silo"|\/silo\?sslmode/.test(s));
    expect(leftovers).toEqual([]);
    expect(text).toContain('"DBSubnetGroupName":"acme-tenants"');
    expect(text).toContain('secret:acme/*/app-??????');
    expect(text).toContain('"DBInstanceIdentifier":"acmecontrolplane"');
  });

  it('builds ARNs from the partition, region and account of the deployment', () => {
    expect(JSON.stringify(full.json)).not.toMatch(/arn:aws[a-z-]*:/);
  });

  it('tags what it creates as prerequisites, and nothing managed-by=silo', () => {
    const text = JSON.stringify(full.json);
    expect(text).not.toMatch(/"Key":"managed-by"/);
    full.template.hasResourceProperties('AWS::KMS::Key', {
      Tags: Match.arrayWith([{ Key: 'silo:component', Value: 'prerequisites' }]),
    });
  });

  it("scopes the worker's tag conditions to the given environment, production by default, and outputs it", () => {
    const staging = synth({ siloEnvironment: 'staging' });
    const workerCondition = (json: TemplateJson) => {
      const [, policy] = resourcesOfType(json, 'AWS::IAM::ManagedPolicy').find(
        ([, p]) => p.Properties?.ManagedPolicyName === 'silo-provisioning-worker',
      )!;
      const statements = (
        policy.Properties?.PolicyDocument as { Statement: { Sid: string; Condition?: object }[] }
      ).Statement;
      return statements.find((s) => s.Sid === 'CreateTenantSecrets')!.Condition as {
        StringEquals: Record<string, string>;
      };
    };
    expect(workerCondition(byDefault.json).StringEquals['aws:RequestTag/silo:environment']).toBe(
      'production',
    );
    expect(workerCondition(staging.json).StringEquals['aws:RequestTag/silo:environment']).toBe('staging');
    expect(staging.json.Outputs?.SiloEnvironment).toEqual({
      Value: 'staging',
      Description: 'SILO_ENVIRONMENT: the silo:environment tag the worker policy allows',
    });
    expect(() => new SiloPrerequisitesStack(new App(), 'Bad', { siloEnvironment: 'Prod_1' })).toThrow(
      /not a valid SILO_ENVIRONMENT/,
    );
  });

  it('refuses a prefix SILO_RESOURCE_PREFIX would refuse', () => {
    expect(() => new SiloPrerequisitesStack(new App(), 'Bad', { resourcePrefix: 'Silo_Prod' })).toThrow(
      /not a valid SILO_RESOURCE_PREFIX/,
    );
  });

  it('gives LocalStack the same names (localstack/ready.d)', () => {
    const hook = readFileSync(join(root, 'localstack/ready.d/10-silo-prerequisites.sh'), 'utf8');
    const names = prerequisiteNames('${prefix}');
    for (const name of [
      names.tenantKeyAlias,
      names.alarmTopic,
      names.tenantSubnetGroup,
      names.tenantSecurityGroup,
      names.dataPlaneSecurityGroup,
    ]) {
      expect({ name, inHook: hook.includes(`"${name}"`) }).toEqual({ name, inHook: true });
    }
  });
});
