import { environmentSchema, type EnvironmentVariable } from '../../libs/config/src/config.schema';
import {
  DEPLOYMENT_OUTPUT_KEYS,
  envLinesFromOutputs,
  outputKeyFor,
  outputsOfStack,
  variableForOutputKey,
} from '../lib/config-outputs';
import { stackFromContext } from '../lib/stack-context';
import { render, synth } from './template-helpers';

const full = synth({ controlPlaneDatabase: true, controlPlaneRedis: true });
const byDefault = synth();
const outputs = (json: typeof full.json) => json.Outputs ?? {};

const AWS_CONFIGURATION: EnvironmentVariable[] = [
  'AWS_REGION',
  'SILO_RESOURCE_PREFIX',
  'SILO_ENVIRONMENT',
  'KMS_KEY_ID',
  'ALARM_SNS_TOPIC_ARN',
  'RDS_SUBNET_GROUP',
  'RDS_SECURITY_GROUP_IDS',
  'TENANT_EXPORT_BUCKET',
  'TENANT_EXPORT_RETENTION_DAYS',
];

describe('stack outputs', () => {
  it('names each configuration output after its variable, both ways', () => {
    for (const variable of Object.keys(environmentSchema.shape) as EnvironmentVariable[]) {
      expect(outputKeyFor(variable)).toMatch(/^[A-Za-z0-9]+$/);
      expect(variableForOutputKey(outputKeyFor(variable))).toBe(variable);
    }
    expect(outputKeyFor('KMS_KEY_ID')).toBe('KmsKeyId');
    expect(variableForOutputKey('DataPlaneSecurityGroupId')).toBeUndefined();
  });

  it('has one output per configuration variable it provides, and otherwise only deployment pointers', () => {
    const check = (json: typeof full.json, expected: EnvironmentVariable[]) => {
      const keys = Object.keys(outputs(json));
      const variables = keys.map(variableForOutputKey).filter((v) => v !== undefined);
      expect(variables.sort()).toEqual([...expected].sort());
      const others = keys.filter((k) => variableForOutputKey(k) === undefined);
      expect(others.filter((k) => !(DEPLOYMENT_OUTPUT_KEYS as readonly string[]).includes(k))).toEqual([]);
      for (const variable of variables) {
        expect(outputs(json)[outputKeyFor(variable)].Description).toMatch(new RegExp(`^${variable}: `));
      }
    };
    check(byDefault.json, AWS_CONFIGURATION);
    check(full.json, [...AWS_CONFIGURATION, 'DATABASE_URL', 'REDIS_URL']);
  });

  it('points each output at the resource the worker needs', () => {
    const value = (key: string) => render(outputs(full.json)[key].Value);
    expect(value('AwsRegion')).toBe('${AWS::Region}');
    expect(value('SiloResourcePrefix')).toBe('silo');
    expect(value('SiloEnvironment')).toBe('production');
    expect(value('KmsKeyId')).toBe('${TenantKey8692782D.Arn}');
    expect(value('AlarmSnsTopicArn')).toBe('${AlarmTopicD01E77F9}');
    expect(value('TenantExportBucket')).toBe('${TenantExports311D3F2F}');
    expect(value('TenantExportRetentionDays')).toBe('35');
    expect(value('RdsSubnetGroup')).toMatch(/^\$\{NetworkSubnetGroup[A-Z0-9]+\}$/);
    expect(value('RdsSecurityGroupIds')).toMatch(/^\$\{NetworkTenantDatabases[A-Z0-9]+\.GroupId\}$/);
    expect(value('DatabaseUrl')).toMatch(
      /^postgresql:\/\/silo_admin@\$\{ControlPlaneDatabaseInstance[A-Z0-9]+\.Endpoint\.Address\}:\$\{ControlPlaneDatabaseInstance[A-Z0-9]+\.Endpoint\.Port\}\/silo\?sslmode=verify-full$/,
    );
    expect(value('RedisUrl')).toMatch(
      /^rediss:\/\/\$\{ControlPlaneRedisReplicationGroup[A-Z0-9]+\.PrimaryEndPoint\.Address\}:6379$/,
    );
  });

  it('never puts a password in an output: URLs leave it out and secrets are named by ARN', () => {
    for (const [key, output] of Object.entries(outputs(full.json))) {
      const text = render(output.Value);
      expect({ key, text }).not.toEqual({
        key,
        text: expect.stringMatching(/resolve:secretsmanager|SecretString/),
      });
      expect({ key, text }).not.toEqual({ key, text: expect.stringMatching(/:\/\/[^@/]*:[^@/]*@/) });
    }
    expect(render(outputs(full.json).DatabaseSecretArn.Value)).toMatch(
      /^\$\{ControlPlaneDatabaseInstanceSecret[A-Za-z0-9]+\}$/,
    );
    expect(render(outputs(full.json).RedisAuthTokenSecretArn.Value)).toMatch(
      /^\$\{ControlPlaneRedisAuthToken[A-Z0-9]+\}$/,
    );
  });
});

describe('outputs to .env', () => {
  const deployed = {
    AwsRegion: 'eu-west-1',
    SiloResourcePrefix: 'silo',
    SiloEnvironment: 'production',
    KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/0f0e0d0c-0b0a-0908-0706-050403020100',
    AlarmSnsTopicArn: 'arn:aws:sns:eu-west-1:123456789012:silo-alarms',
    RdsSubnetGroup: 'silo-tenants',
    RdsSecurityGroupIds: 'sg-0123456789abcdef0',
    TenantExportBucket: 'silo-prerequisites-tenantexports311d3f2f-0a1b2c3d4e5f',
    TenantExportRetentionDays: '35',
    DatabaseUrl:
      'postgresql://silo_admin@silocontrolplane.abc.eu-west-1.rds.amazonaws.com:5432/silo?sslmode=verify-full',
    RedisUrl: 'rediss://master.silo-control-plane.abc.euw1.cache.amazonaws.com:6379',
    DatabaseSecretArn:
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:silo-control-plane/database-AbCdEf',
    RedisAuthTokenSecretArn:
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:silo-control-plane/redis-auth-token-AbCdEf',
    DataPlaneSecurityGroupId: 'sg-0fedcba9876543210',
  };

  it('writes variables the configuration accepts, and says where the passwords are', () => {
    const lines = envLinesFromOutputs(deployed);
    const env = Object.fromEntries(
      lines
        .filter((l) => !l.startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(Object.keys(env).sort()).toEqual([...AWS_CONFIGURATION, 'DATABASE_URL', 'REDIS_URL'].sort());
    const parsed = environmentSchema.safeParse(env);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(lines).toContain(
      `# DATABASE_URL leaves the password out: add secret ${deployed.DatabaseSecretArn}, its "password" field as postgresql://silo_admin:<password>@…`,
    );
    expect(lines).toContain(`# DataPlaneSecurityGroupId: ${deployed.DataPlaneSecurityGroupId}`);
  });

  it('never says AWS is an emulator: no AWS_EMULATOR or AWS_ENDPOINT_URL, so the alarm topic stays required', () => {
    for (const json of [full.json, byDefault.json]) {
      const variables = Object.keys(outputs(json)).map(variableForOutputKey);
      expect(variables).not.toContain('AWS_EMULATOR');
      expect(variables).not.toContain('AWS_ENDPOINT_URL');
    }
    const lines = envLinesFromOutputs(deployed);
    expect(lines.filter((l) => /^#?\s*AWS_(EMULATOR|ENDPOINT_URL)\b/.test(l))).toEqual([]);
    const env = Object.fromEntries(
      lines
        .filter((l) => !l.startsWith('#') && !l.startsWith('ALARM_SNS_TOPIC_ARN='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const parsed = environmentSchema.safeParse(env);
    expect(parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'))).toContain(
      'ALARM_SNS_TOPIC_ARN',
    );
  });
});

describe('stack context', () => {
  const from = (context: Record<string, unknown>) => stackFromContext((key) => context[key]);

  it('defaults to the silo prefix, a new VPC and no control-plane stores', () => {
    expect(from({})).toEqual({
      stackName: 'silo-prerequisites',
      props: expect.objectContaining({
        resourcePrefix: 'silo',
        siloEnvironment: undefined,
        network: undefined,
        controlPlaneDatabase: false,
        controlPlaneRedis: false,
      }),
    });
  });

  it('reads an existing network and flags as cdk -c passes them', () => {
    const { stackName, props } = from({
      prefix: 'acme',
      environment: 'staging',
      vpcId: 'vpc-1',
      privateSubnetIds: 'subnet-a, subnet-b',
      controlPlaneDatabase: 'true',
      controlPlaneRedis: false,
    });
    expect(stackName).toBe('acme-prerequisites');
    expect(props.siloEnvironment).toBe('staging');
    expect(props.network).toEqual({ vpcId: 'vpc-1', privateSubnetIds: ['subnet-a', 'subnet-b'] });
    expect(props.controlPlaneDatabase).toBe(true);
    expect(props.controlPlaneRedis).toBe(false);
  });

  it('refuses half a network and flags that are not booleans', () => {
    expect(() => from({ vpcId: 'vpc-1' })).toThrow(/go together/);
    expect(() => from({ controlPlaneRedis: 'yes' })).toThrow(/true or false/);
  });
});

describe('outputs files', () => {
  it('reads cdk deploy --outputs-file and aws cloudformation describe-stacks alike', () => {
    expect(outputsOfStack({ 'silo-prerequisites': { KmsKeyId: 'k' } })).toEqual({ KmsKeyId: 'k' });
    const described = {
      Stacks: [{ StackName: 'silo-prerequisites', Outputs: [{ OutputKey: 'KmsKeyId', OutputValue: 'k' }] }],
    };
    expect(outputsOfStack(described, 'silo-prerequisites')).toEqual({ KmsKeyId: 'k' });
    expect(() => outputsOfStack({ a: {}, b: {} })).toThrow(/name one stack of: a, b/);
  });
});
