import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, DefaultStackSynthesizer, Token, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolveRegions } from '../../libs/config/src/region-settings';
import { outputsOfStack, regionSettingsFromOutputs } from '../lib/config-outputs';
import { addSiloStacks } from '../lib/silo-app';
import { SiloPrerequisitesStack } from '../lib/silo-prerequisites.stack';
import { SiloRegionPrerequisitesStack } from '../lib/silo-region-prerequisites.stack';
import {
  REGION_SETTINGS_PATH,
  REGION_SETTINGS_VARIABLE,
  SiloServicesStack,
} from '../lib/silo-services.stack';
import { CONTEXT_KEYS, regionStacksFromContext } from '../lib/stack-context';
import {
  actionsOf,
  leastPrivilegeViolations,
  policiesIn,
  render,
  resourcesOf,
  type Statement,
  type TemplateJson,
} from './template-helpers';

const HOME = 'eu-west-1';
const OTHER = 'eu-central-1';
const THIRD = 'ap-southeast-2';
const HOME_WORKER_CIDR = '10.10.0.0/20';
const THIRD_TENANT_CIDR = '10.30.0.0/22';
const REGIONAL_CONTEXT = {
  regions: `${HOME},${OTHER},${THIRD}`,
  prefix: 'acme',
  [`${OTHER}:postgresClientCidrs`]: HOME_WORKER_CIDR,
  [`${OTHER}:vpcId`]: 'vpc-0e0e0e0e0e0e0e0e0',
  [`${OTHER}:privateSubnetIds`]: 'subnet-0e0e0e0e0e0e0e0e1,subnet-0e0e0e0e0e0e0e0e2',
  [`${OTHER}:dataPlaneSecurityGroupId`]: 'sg-0d0d0d0d0d0d0d0d1',
  [`${THIRD}:postgresClientCidrs`]: `${HOME_WORKER_CIDR},10.20.0.0/22`,
  postgresClientCidrs: THIRD_TENANT_CIDR,
};

interface Built {
  stack: Stack;
  json: TemplateJson;
}

/** The app as `npm run infra:synth -- -c …` builds it. */
function synthApp(context: Record<string, unknown>): Built[] {
  const app = new App({ builtinCloudFormationValidation: false, context });
  return addSiloStacks(app).map((stack) => ({
    stack,
    json: Template.fromStack(stack).toJSON() as TemplateJson,
  }));
}

const [home, other, third] = synthApp(REGIONAL_CONTEXT);
const singleRegion = synthApp({ prefix: 'acme' });

const resourcesOfType = (json: TemplateJson, type: string) =>
  Object.entries(json.Resources).filter(([, r]) => r.Type === type);
const idsAndTypes = (json: TemplateJson) =>
  Object.entries(json.Resources)
    .map(([id, r]) => `${id} ${r.Type}`)
    .sort();
const managedPolicy = (json: TemplateJson, name: string): Statement[] => {
  const found = resourcesOfType(json, 'AWS::IAM::ManagedPolicy').filter(
    ([, p]) => p.Properties?.ManagedPolicyName === name,
  );
  expect(found).toHaveLength(1);
  return (found[0][1].Properties?.PolicyDocument as { Statement: Statement[] }).Statement;
};
const actionSet = (statements: Statement[]) =>
  [...new Set(statements.filter((s) => s.Effect === 'Allow').flatMap(actionsOf))].sort();
/** Every Fn::Join rendered as text, so that a literal region and AWS::Region compare alike. */
const flattened = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(flattened);
  if (value && typeof value === 'object') {
    if ('Fn::Join' in value) return render(value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, flattened(v)]));
  }
  return value;
};
const logicalId = (json: TemplateJson, type: string) => {
  const found = resourcesOfType(json, type);
  expect(found).toHaveLength(1);
  return found[0][0];
};

describe('one prerequisites stack per region', () => {
  it('makes the home stack under its old name and one <name>-<region> stack for each other region, each in its region', () => {
    expect([home, other, third].map(({ stack }) => [stack.stackName, stack.region])).toEqual([
      ['acme-prerequisites', HOME],
      [`acme-prerequisites-${OTHER}`, OTHER],
      [`acme-prerequisites-${THIRD}`, THIRD],
    ]);
    expect(home.stack).toBeInstanceOf(SiloPrerequisitesStack);
    expect(other.stack).toBeInstanceOf(SiloRegionPrerequisitesStack);
    const named = synthApp({ ...REGIONAL_CONTEXT, stackName: 'platform-silo' });
    expect(named.map(({ stack }) => stack.stackName)).toEqual([
      'platform-silo',
      `platform-silo-${OTHER}`,
      `platform-silo-${THIRD}`,
    ]);
  });

  it('leaves a single-region app as it was: one environment-agnostic stack, the template it always made', () => {
    expect(singleRegion).toHaveLength(1);
    const [{ stack, json }] = singleRegion;
    expect(stack.stackName).toBe('acme-prerequisites');
    expect(Token.isUnresolved(stack.region)).toBe(true);
    const before = new SiloPrerequisitesStack(new App(), 'acme-prerequisites', {
      resourcePrefix: 'acme',
      stackName: 'acme-prerequisites',
      synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
    });
    expect(json).toEqual(Template.fromStack(before).toJSON());
  });

  it("keeps the home stack's logical ids and physical names when regions are added, so its key and bucket stay", () => {
    const [single] = singleRegion;
    expect(idsAndTypes(home.json)).toEqual(idsAndTypes(single.json));
    // With its env's region, ARNs name the region where they named the deployment's: the same
    // values once deployed there, and no property that replaces a resource.
    const inHome = (resources: [string, unknown][]) =>
      JSON.stringify(flattened(resources)).replaceAll('${AWS::Region}', HOME);
    for (const type of ['AWS::KMS::Key', 'AWS::KMS::Alias', 'AWS::S3::Bucket', 'AWS::RDS::DBSubnetGroup']) {
      expect(inHome(resourcesOfType(home.json, type))).toBe(inHome(resourcesOfType(single.json, type)));
    }
    expect(logicalId(home.json, 'AWS::S3::Bucket')).toBe('TenantExports311D3F2F');
    expect(
      resourcesOfType(home.json, 'AWS::IAM::ManagedPolicy').map(([, p]) => p.Properties?.ManagedPolicyName),
    ).toEqual(
      resourcesOfType(single.json, 'AWS::IAM::ManagedPolicy').map(([, p]) => p.Properties?.ManagedPolicyName),
    );
  });

  it("gives each other region its own key, alarm topic, exports bucket and subnet group, under the home stack's names", () => {
    for (const { json } of [other, third]) {
      expect(resourcesOfType(json, 'AWS::KMS::Key')).toHaveLength(2);
      expect(resourcesOfType(json, 'AWS::KMS::Alias').map(([, a]) => a.Properties?.AliasName)).toEqual([
        'alias/acme-tenants',
        'alias/acme-alarms',
      ]);
      expect(resourcesOfType(json, 'AWS::SNS::Topic').map(([, t]) => t.Properties?.TopicName)).toEqual([
        'acme-alarms',
      ]);
      const [[, bucket]] = resourcesOfType(json, 'AWS::S3::Bucket');
      expect(bucket.DeletionPolicy).toBe('Retain');
      expect(render(bucket.Properties?.BucketEncryption)).toContain('TenantKey8692782D');
      expect(
        resourcesOfType(json, 'AWS::RDS::DBSubnetGroup').map(([, g]) => g.Properties?.DBSubnetGroupName),
      ).toEqual(['acme-tenants']);
    }
    expect(resourcesOfType(other.json, 'AWS::RDS::DBSubnetGroup')[0][1].Properties?.SubnetIds).toEqual([
      'subnet-0e0e0e0e0e0e0e0e1',
      'subnet-0e0e0e0e0e0e0e0e2',
    ]);
    expect(resourcesOfType(other.json, 'AWS::EC2::VPC')).toHaveLength(0);
    expect(resourcesOfType(third.json, 'AWS::EC2::VPC')).toHaveLength(1);
  });

  it('keeps the control plane in the home region: no secret, store, migration policy or control-plane group elsewhere', () => {
    const withStores = synthApp({ ...REGIONAL_CONTEXT, controlPlaneDatabase: true, controlPlaneRedis: true });
    expect(resourcesOfType(withStores[0].json, 'AWS::RDS::DBInstance')).toHaveLength(1);
    for (const [{ json }, region] of [
      [withStores[1], OTHER],
      [withStores[2], THIRD],
    ] as const) {
      for (const type of [
        'AWS::SecretsManager::Secret',
        'AWS::RDS::DBInstance',
        'AWS::ElastiCache::ReplicationGroup',
      ]) {
        expect({ type, count: resourcesOfType(json, type).length }).toEqual({ type, count: 0 });
      }
      const names = resourcesOfType(json, 'AWS::IAM::ManagedPolicy').map(
        ([, p]) => p.Properties?.ManagedPolicyName,
      );
      expect(names.sort()).toEqual([
        `acme-control-plane-api-${region}`,
        `acme-data-plane-${region}`,
        `acme-provisioning-worker-${region}`,
      ]);
      const groups = resourcesOfType(json, 'AWS::EC2::SecurityGroup').map(([, g]) => g.Properties?.GroupName);
      expect(groups).not.toContain('acme-control-plane');
    }
  });

  it("admits the home region's worker and other regions' instances to tenant instances by CIDR, over the peering", () => {
    const ingress = (json: TemplateJson) =>
      (
        resourcesOfType(json, 'AWS::EC2::SecurityGroup').find(
          ([, g]) => g.Properties?.GroupName === 'acme-tenant-db',
        )![1].Properties?.SecurityGroupIngress as Record<string, unknown>[]
      ).map((rule) => `${String(rule.FromPort)} ${render(rule.SourceSecurityGroupId ?? rule.CidrIp)}`);
    expect(ingress(other.json)).toEqual(['5432 sg-0d0d0d0d0d0d0d0d1', `5432 ${HOME_WORKER_CIDR}`]);
    expect(ingress(third.json)).toEqual([
      expect.stringMatching(/^5432 \$\{NetworkDataPlane[A-Z0-9]+\.GroupId\}$/),
      `5432 ${HOME_WORKER_CIDR}`,
      '5432 10.20.0.0/22',
    ]);
    // The home stack: its two groups as always, then the other regions' tenant subnets (moves).
    expect(ingress(home.json)).toEqual([
      expect.stringMatching(/DataPlane/),
      expect.stringMatching(/ControlPlane/),
      `5432 ${THIRD_TENANT_CIDR}`,
    ]);
  });
});

describe("each region's policies", () => {
  const homeWorker = managedPolicy(home.json, 'acme-provisioning-worker');
  const otherWorker = managedPolicy(other.json, `acme-provisioning-worker-${OTHER}`);

  it('let the worker do in another region what it does in the home one, but for the three statements on "*", which cover every region', () => {
    const homeActions = actionSet(homeWorker);
    expect(actionSet(otherWorker)).toEqual(
      homeActions.filter(
        (a) =>
          ![
            'secretsmanager:ListSecrets',
            'rds:DescribeDBEngineVersions',
            'cloudwatch:PutMetricData',
          ].includes(a),
      ),
    );
    expect(homeWorker.filter((s) => resourcesOf(s).includes('*')).map((s) => s.Sid)).toEqual([
      'ListFleetSecrets',
      'DescribeEngineVersions',
      'PublishQueueMetrics',
    ]);
    expect(otherWorker.filter((s) => resourcesOf(s).includes('*'))).toEqual([]);
    expect(otherWorker.filter((s) => s.Effect === 'Deny').map((s) => s.Sid)).toEqual(
      homeWorker.filter((s) => s.Effect === 'Deny').map((s) => s.Sid),
    );
  });

  it("name that region's key, bucket, instances, snapshots, secrets, alarms and subnet group, nothing outside the prefix", () => {
    const key = '${TenantKey8692782D.Arn}';
    const bucket = '${TenantExports311D3F2F.Arn}';
    for (const [{ json }, region] of [
      [other, OTHER],
      [third, THIRD],
    ] as const) {
      const worker = managedPolicy(json, `acme-provisioning-worker-${region}`);
      const arn = (service: string, rest: string) =>
        `arn:\${AWS::Partition}:${service}:${region}:\${AWS::AccountId}:${rest}`;
      const allowed = new Set([
        key,
        `${bucket}/acme/exports/*`,
        arn('rds', 'db:acme-*'),
        arn('rds', 'db:acme-host-*'),
        arn('rds', 'db:acme-restore-*'),
        arn('rds', 'db:*'),
        arn('rds', 'snapshot:*'),
        arn('rds', 'snapshot:acme-*'),
        arn('rds', 'snapshot:acme-*-final-*'),
        arn('rds', 'snapshot:acme-*-manual-*'),
        arn('rds', 'snapshot:rds:acme-*'),
        arn('rds', 'auto-backup:*'),
        arn('rds', 'subgrp:acme-tenants'),
        arn('rds', 'pg:default.postgres*'),
        arn('rds', 'pg:acme-*'),
        arn('rds', 'og:default:postgres-*'),
        arn('secretsmanager', 'secret:acme/*/master-??????'),
        arn('secretsmanager', 'secret:acme/*/app-??????'),
        arn('secretsmanager', 'secret:acme/hosts/*/master-??????'),
        arn('secretsmanager', 'secret:acme/hosts/*/pool-app-??????'),
        arn('cloudwatch', 'alarm:acme-*-*'),
        arn('cloudwatch', 'alarm:acme-host-*-*'),
      ]);
      const named = [...new Set(worker.flatMap(resourcesOf))].sort();
      expect(named.filter((r) => !allowed.has(r))).toEqual([]);
      // Every one of them is there: the region's key, bucket and subnet group among them.
      expect(named).toEqual([...allowed].sort());
      // KMS through that region's services only.
      for (const statement of worker.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')))) {
        expect(resourcesOf(statement)).toEqual([key]);
        expect(render(statement.Condition?.StringEquals?.['kms:ViaService'])).toMatch(
          /^(rds|secretsmanager|s3)\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}$/,
        );
      }
      expect(leastPrivilegeViolations(policiesIn(json))).toEqual([]);
    }
  });

  it("let the API read that region's alarms, instances, snapshots and backups, and the data plane its app and pool-app secrets, never the login secret", () => {
    const api = managedPolicy(other.json, `acme-control-plane-api-${OTHER}`);
    expect(api.flatMap(resourcesOf)).toEqual([
      `arn:\${AWS::Partition}:cloudwatch:${OTHER}:\${AWS::AccountId}:alarm:acme-*-*`,
      `arn:\${AWS::Partition}:rds:${OTHER}:\${AWS::AccountId}:db:acme-*`,
      `arn:\${AWS::Partition}:rds:${OTHER}:\${AWS::AccountId}:db:acme-*`,
      `arn:\${AWS::Partition}:rds:${OTHER}:\${AWS::AccountId}:snapshot:acme-*`,
      `arn:\${AWS::Partition}:rds:${OTHER}:\${AWS::AccountId}:snapshot:rds:acme-*`,
      `arn:\${AWS::Partition}:rds:${OTHER}:\${AWS::AccountId}:auto-backup:*`,
      `arn:\${AWS::Partition}:secretsmanager:${OTHER}:\${AWS::AccountId}:secret:acme/*/master-??????`,
      `arn:\${AWS::Partition}:secretsmanager:${OTHER}:\${AWS::AccountId}:secret:acme/*/app-??????`,
    ]);
    const dataPlane = managedPolicy(other.json, `acme-data-plane-${OTHER}`);
    expect(dataPlane.map((s) => s.Sid)).toEqual([
      'ReadTenantAppSecrets',
      'ReadHostPoolAppSecrets',
      'DecryptTenantAppSecrets',
    ]);
    expect(JSON.stringify(dataPlane)).not.toContain('control-plane');
    expect(JSON.stringify(managedPolicy(home.json, 'acme-data-plane'))).toContain('DataPlaneLogin');
  });
});

describe("each region's outputs", () => {
  it("output the region and its SILO_REGION_SETTINGS_FILE entry, from that stack's own resources", () => {
    const outputs = other.json.Outputs ?? {};
    expect(Object.keys(outputs).sort()).toEqual([
      'ControlPlaneApiPolicyArn',
      'DataPlanePolicyArn',
      'DataPlaneSecurityGroupId',
      'ProvisioningWorkerPolicyArn',
      'RegionSettingsEntry',
      'TenantRegion',
    ]);
    expect(outputs.TenantRegion.Value).toBe(OTHER);
    const tenantGroup = resourcesOfType(other.json, 'AWS::EC2::SecurityGroup').find(
      ([, g]) => g.Properties?.GroupName === 'acme-tenant-db',
    )![0];
    expect(JSON.parse(render(outputs.RegionSettingsEntry.Value))).toEqual({
      kmsKeyId: '${TenantKey8692782D.Arn}',
      subnetGroup: `\${${logicalId(other.json, 'AWS::RDS::DBSubnetGroup')}}`,
      securityGroupIds: [`\${${tenantGroup}.GroupId}`],
      alarmTopicArn: '${AlarmTopicD01E77F9}',
      exportBucket: '${TenantExports311D3F2F}',
    });
  });

  it('become a settings file Silo accepts (infra:env -- <outputs.json> --region-settings)', () => {
    const file = JSON.parse(
      readFileSync(join(__dirname, 'fixtures/two-regions.outputs.json'), 'utf8'),
    ) as unknown;
    const settings = regionSettingsFromOutputs(file);
    expect(Object.keys(settings)).toEqual([OTHER]);
    const path = join(mkdtempSync(join(tmpdir(), 'silo-regions-')), 'region-settings.json');
    writeFileSync(path, JSON.stringify(settings));
    const { regions, issues } = resolveRegions({
      AWS_REGION: HOME,
      SILO_REGIONS: `${HOME},${OTHER}`,
      SILO_REGION_SETTINGS_FILE: path,
    });
    expect(issues).toEqual([]);
    expect(regions?.byName.get(OTHER)).toMatchObject({
      kmsKeyId: expect.stringMatching(new RegExp(`^arn:aws:kms:${OTHER}:`)),
      alarmTopicArn: expect.stringMatching(new RegExp(`^arn:aws:sns:${OTHER}:`)),
      securityGroupIds: ['sg-0e0e0e0e0e0e0e0e0'],
    });
    // Without a stack name, the home stack is the one that is not another region's.
    expect(outputsOfStack(file).AwsRegion).toBe(HOME);
  });
});

describe('regions context', () => {
  const from = (context: Record<string, unknown>) =>
    regionStacksFromContext((key) => context[key], Object.keys(context));

  it('accepts regions and <region>:<key> on the command line', () => {
    expect(CONTEXT_KEYS).toContain('regions');
    expect(CONTEXT_KEYS).toContain('postgresClientCidrs');
    expect(from({}).stacks).toEqual([]);
    expect(from({ regions: HOME })).toEqual({ homeRegion: HOME, stacks: [] });
  });

  it('names the key of each mistake', () => {
    const cidrs = { [`${OTHER}:postgresClientCidrs`]: HOME_WORKER_CIDR };
    expect(() => from(cidrs)).toThrow(/list the regions first/);
    expect(() => from({ regions: `${HOME},${OTHER}` })).toThrow(
      new RegExp(`^context ${OTHER}:postgresClientCidrs is required`),
    );
    expect(() => from({ regions: `${HOME},${HOME}` })).toThrow(/names a region twice/);
    expect(() => from({ regions: `${HOME},Frankfurt` })).toThrow(/"Frankfurt" is not an AWS region/);
    expect(() => from({ regions: HOME, ...cidrs })).toThrow(new RegExp(`${OTHER} is not in regions`));
    expect(() => from({ regions: `${HOME},${OTHER}`, ...cidrs, [`${HOME}:vpcId`]: 'vpc-1' })).toThrow(
      /is the home region, whose settings are the plain keys/,
    );
    expect(() => from({ regions: `${HOME},${OTHER}`, ...cidrs, [`${OTHER}:vpcId`]: 'vpc-1' })).toThrow(
      /go together/,
    );
    expect(() =>
      synthApp({ regions: `${HOME},${OTHER}`, [`${OTHER}:postgresClientCidrs`]: 'everywhere' }),
    ).toThrow(/"everywhere" is not an IPv4 CIDR/);
  });
});

describe('the services of a multi-region deployment', () => {
  const CONTEXT = {
    image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/silo:1.4.0',
    prerequisitesOutputs: join(__dirname, 'fixtures/two-regions.outputs.json'),
    vpcId: 'vpc-0123456789abcdef0',
    privateSubnetIds: 'subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb',
    vpcCidr: '10.20.0.0/16',
    authJwksUrl: 'https://login.example.com/.well-known/jwks.json',
    authIssuer: 'https://login.example.com/',
    authAudience: 'silo-control-plane',
  };
  const [services] = synthApp(CONTEXT);
  interface Container {
    Name: string;
    Command: string[];
    Environment: { Name: string; Value: string }[];
  }
  const containers = resourcesOfType(services.json, 'AWS::ECS::TaskDefinition').flatMap(
    ([, t]) => t.Properties?.ContainerDefinitions as Container[],
  );
  const env = (c: Container) => Object.fromEntries(c.Environment.map((e) => [e.Name, e.Value]));
  const roleOf = (family: string) => {
    const [[, task]] = resourcesOfType(services.json, 'AWS::ECS::TaskDefinition').filter(
      ([, t]) => t.Properties?.Family === family,
    );
    const role =
      services.json.Resources[render(task.Properties?.TaskRoleArn).replace(/^\$\{(.*)\.Arn\}$/, '$1')];
    return (role.Properties?.ManagedPolicyArns as string[]).map(render);
  };

  it('reads the home stack and every other region of the outputs file', () => {
    expect(services.stack).toBeInstanceOf(SiloServicesStack);
    expect(services.stack.stackName).toBe('acme-services');
  });

  it('gives every container SILO_REGIONS, the home region first, and writes the settings file before Silo starts', () => {
    const file = JSON.parse(readFileSync(CONTEXT.prerequisitesOutputs, 'utf8')) as unknown;
    expect(containers.map((c) => c.Name).sort()).toEqual(['api', 'migrate', 'worker']);
    for (const container of containers) {
      const vars = env(container);
      expect(vars.SILO_REGIONS).toBe(`${HOME},${OTHER}`);
      expect(vars.SILO_REGION_SETTINGS_FILE).toBe(REGION_SETTINGS_PATH);
      expect(JSON.parse(vars[REGION_SETTINGS_VARIABLE])).toEqual(regionSettingsFromOutputs(file));
      // The home region's settings stay in the single-region variables, never in both places.
      expect(vars.KMS_KEY_ID).toMatch(new RegExp(`^arn:aws:kms:${HOME}:`));
      expect(container.Command.slice(0, 2)).toEqual(['sh', '-c']);
      expect(container.Command[2]).toBe(
        `printf '%s' "$${REGION_SETTINGS_VARIABLE}" > ${REGION_SETTINGS_PATH} && exec "$@"`,
      );
      expect(container.Command[4]).toBe('node');
    }
  });

  it("attaches each region's worker and API policies to their roles, and the migration's alone to its own", () => {
    expect(roleOf('acme-worker')).toEqual([
      'arn:aws:iam::123456789012:policy/acme-provisioning-worker',
      `arn:aws:iam::123456789012:policy/acme-provisioning-worker-${OTHER}`,
    ]);
    expect(roleOf('acme-api')).toEqual([
      'arn:aws:iam::123456789012:policy/acme-control-plane-api',
      `arn:aws:iam::123456789012:policy/acme-control-plane-api-${OTHER}`,
    ]);
    expect(roleOf('acme-migrate')).toEqual(['arn:aws:iam::123456789012:policy/acme-control-plane-migrate']);
  });

  it('leaves a single-region deployment without SILO_REGIONS, its commands as they were', () => {
    const [single] = synthApp({
      ...CONTEXT,
      prerequisitesOutputs: join(__dirname, 'fixtures/silo-prerequisites.outputs.json'),
    });
    for (const [, task] of resourcesOfType(single.json, 'AWS::ECS::TaskDefinition')) {
      for (const container of task.Properties?.ContainerDefinitions as Container[]) {
        expect(Object.keys(env(container)).filter((name) => name.startsWith('SILO_REGION'))).toEqual([]);
        expect(container.Command[0]).toBe('node');
      }
    }
  });

  it("refuses a region's settings Silo would refuse at start-up, naming the region and field", () => {
    const file = JSON.parse(readFileSync(CONTEXT.prerequisitesOutputs, 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    const regional = file[`acme-prerequisites-${OTHER}`];
    const entry = JSON.parse(regional.RegionSettingsEntry) as Record<string, unknown>;
    const path = join(mkdtempSync(join(tmpdir(), 'silo-outputs-')), 'outputs.json');
    writeFileSync(
      path,
      JSON.stringify({
        ...file,
        [`acme-prerequisites-${OTHER}`]: {
          ...regional,
          RegionSettingsEntry: JSON.stringify({
            ...entry,
            alarmTopicArn: `arn:aws:sns:${HOME}:123456789012:acme-alarms`,
          }),
        },
      }),
    );
    expect(() => synthApp({ ...CONTEXT, prerequisitesOutputs: path })).toThrow(
      new RegExp(`SILO_REGION_SETTINGS_FILE: ${OTHER}\\.alarmTopicArn: is a topic of ${HOME}`),
    );
  });
});
