import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { environmentSchema } from '../../libs/config/src/config.schema';
import { IMAGE_RDS_CA_BUNDLE } from '../lib/image-reference';
import { SERVICES_CONTEXT_KEYS, servicesFromContext } from '../lib/services-context';
import { addSiloStacks } from '../lib/silo-app';
import { QUEUE_DEPTH_METRIC } from '../lib/silo-names';
import { SiloServicesStack } from '../lib/silo-services.stack';
import { CONTEXT_KEYS } from '../lib/stack-context';
import {
  actionsOf,
  leastPrivilegeViolations,
  policiesIn,
  render,
  resourcesOf,
  type Statement,
  type TemplateJson,
} from './template-helpers';

const root = resolve(__dirname, '../..');
const CDK_OUTPUTS = join(__dirname, 'fixtures/silo-prerequisites.outputs.json');
const DESCRIBED = join(__dirname, 'fixtures/silo-prerequisites.describe-stacks.json');
const deployed = (JSON.parse(readFileSync(CDK_OUTPUTS, 'utf8')) as Record<string, Record<string, string>>)[
  'acme-prerequisites'
];

const ECR_IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/silo/control-plane:1.4.0';
const SUBNETS = ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'];
const PUBLIC_SUBNETS = ['subnet-0ccccccccccccccc1', 'subnet-0ccccccccccccccc2'];
const JWKS = 'https://login.example.com/.well-known/jwks.json';
const CA_FILE = '/etc/ssl/rds/global-bundle.pem';
const CONTEXT = {
  image: ECR_IMAGE,
  prerequisitesOutputs: CDK_OUTPUTS,
  vpcId: 'vpc-0123456789abcdef0',
  privateSubnetIds: SUBNETS.join(','),
  vpcCidr: '10.20.0.0/16',
  authJwksUrl: JWKS,
  authIssuer: 'https://login.example.com/',
  authAudience: 'silo-control-plane',
  rdsCaFile: CA_FILE,
};

interface Synthesized {
  stack: SiloServicesStack;
  template: Template;
  json: TemplateJson;
}

/** The app as `npm run infra:synth -- -c …` builds it, from context. */
function synthServices(context: Record<string, unknown>): Synthesized {
  const app = new App({ builtinCloudFormationValidation: false, context });
  const [stack] = addSiloStacks(app);
  if (!(stack instanceof SiloServicesStack))
    throw new Error(`expected the services stack, got ${stack.stackName}`);
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as TemplateJson };
}

const byDefault = synthServices(CONTEXT);
const tuned = synthServices({
  ...CONTEXT,
  image: `ghcr.io/acme/silo@sha256:${'ab'.repeat(32)}`,
  albScheme: 'internet-facing',
  publicSubnetIds: PUBLIC_SUBNETS.join(','),
  albIngressCidr: '0.0.0.0/0',
  certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef',
  apiDesiredCount: '3',
  workerMin: '2',
  workerMax: '8',
  logRetentionDays: 90,
  environment: 'staging',
});
const ownStores = synthServices({
  ...CONTEXT,
  prerequisitesOutputs: DESCRIBED,
  databaseUrl: 'postgresql://silo@db.internal.example.com:5432/silo?sslmode=verify-full',
  databaseSecretArn: 'arn:aws:secretsmanager:us-east-2:210987654321:secret:platform/silo-db-QwErTy',
  databaseSecretField: 'secret',
  redisUrl: 'rediss://cache.internal.example.com:6380',
  redisSecretArn: 'arn:aws:secretsmanager:us-east-2:210987654321:secret:platform/silo-redis-AsDfGh',
});

type Resource = TemplateJson['Resources'][string];
interface Container {
  Name: string;
  Command: string[];
  Environment: { Name: string; Value: unknown }[];
  Secrets?: { Name: string; ValueFrom: unknown }[];
  LogConfiguration: { LogDriver: string; Options: Record<string, unknown> };
  StopTimeout?: number;
  PortMappings?: { ContainerPort: number }[];
}

const resourcesOfType = (json: TemplateJson, type: string) =>
  Object.entries(json.Resources).filter(([, r]) => r.Type === type);
const resource = (json: TemplateJson, id: unknown): Resource => {
  const found = json.Resources[render(id).replace(/^\$\{(.*?)(\.Arn|\.GroupId)?\}$/, '$1')];
  if (!found) throw new Error(`no resource ${render(id)}`);
  return found;
};
function taskDefinition(json: TemplateJson, container: string): { task: Resource; container: Container } {
  for (const [, task] of resourcesOfType(json, 'AWS::ECS::TaskDefinition')) {
    const found = (task.Properties?.ContainerDefinitions as Container[]).find((c) => c.Name === container);
    if (found) return { task, container: found };
  }
  throw new Error(`no container ${container}`);
}
const environmentOf = (c: Container) =>
  Object.fromEntries(c.Environment.map((e) => [e.Name, render(e.Value)]));
const secretsOf = (c: Container) =>
  Object.fromEntries((c.Secrets ?? []).map((s) => [s.Name, render(s.ValueFrom)]));
const policyStatements = (role: Resource): Statement[] =>
  ((role.Properties?.Policies as { PolicyDocument: { Statement: Statement[] } }[] | undefined) ?? []).flatMap(
    (p) => p.PolicyDocument.Statement,
  );
const CONTAINERS = ['api', 'worker', 'migrate'] as const;

describe('configuration', () => {
  it("gives every container Silo's configuration from the outputs, and no password in its environment", () => {
    const secretArns = [deployed.DatabaseSecretArn, deployed.RedisAuthTokenSecretArn];
    for (const name of CONTAINERS) {
      const { container } = taskDefinition(byDefault.json, name);
      const env = environmentOf(container);
      expect(env).toMatchObject({
        NODE_ENV: 'production',
        LOG_FORMAT: 'json',
        AWS_REGION: deployed.AwsRegion,
        SILO_RESOURCE_PREFIX: 'acme',
        SILO_ENVIRONMENT: 'production',
        KMS_KEY_ID: deployed.KmsKeyId,
        ALARM_SNS_TOPIC_ARN: deployed.AlarmSnsTopicArn,
        TENANT_EXPORT_BUCKET: deployed.TenantExportBucket,
        TENANT_EXPORT_RETENTION_DAYS: deployed.TenantExportRetentionDays,
        RDS_SUBNET_GROUP: deployed.RdsSubnetGroup,
        RDS_SECURITY_GROUP_IDS: deployed.RdsSecurityGroupIds,
        DATABASE_URL: deployed.DatabaseUrl,
        REDIS_URL: deployed.RedisUrl,
        TENANT_DB_SSL: 'verify-full',
        TENANT_DB_CA_FILE: CA_FILE,
        NODE_EXTRA_CA_CERTS: CA_FILE,
      });
      for (const [variable, value] of Object.entries(env)) {
        expect({ name, variable }).not.toEqual({
          name,
          variable: expect.stringMatching(/PASSWORD|SECRET|TOKEN/),
        });
        expect({ name, variable, value }).not.toEqual({
          name,
          variable,
          value: expect.stringMatching(/:\/\/[^@/]*:[^@/]*@|resolve:secretsmanager|secretsmanager:/),
        });
        for (const arn of secretArns) expect(value).not.toContain(arn);
      }
      const withSecrets = {
        ...env,
        ...Object.fromEntries(Object.keys(secretsOf(container)).map((k) => [k, 'x'])),
      };
      const parsed = environmentSchema.safeParse(withSecrets);
      expect({ name, issues: parsed.success ? [] : parsed.error.issues }).toEqual({ name, issues: [] });
    }
  });

  it("injects DATABASE_PASSWORD and REDIS_PASSWORD only as ECS secrets, from the outputs' secrets", () => {
    const both = {
      DATABASE_PASSWORD: `${deployed.DatabaseSecretArn}:password::`,
      REDIS_PASSWORD: deployed.RedisAuthTokenSecretArn,
    };
    expect(secretsOf(taskDefinition(byDefault.json, 'api').container)).toEqual(both);
    expect(secretsOf(taskDefinition(byDefault.json, 'worker').container)).toEqual(both);
    expect(secretsOf(taskDefinition(byDefault.json, 'migrate').container)).toEqual({
      DATABASE_PASSWORD: both.DATABASE_PASSWORD,
    });
  });

  it("takes the team's own stores and secrets from context when the outputs have none", () => {
    const { container } = taskDefinition(ownStores.json, 'worker');
    expect(environmentOf(container)).toMatchObject({
      AWS_REGION: 'us-east-2',
      SILO_RESOURCE_PREFIX: 'silo',
      DATABASE_URL: 'postgresql://silo@db.internal.example.com:5432/silo?sslmode=verify-full',
      REDIS_URL: 'rediss://cache.internal.example.com:6380',
    });
    expect(secretsOf(container)).toEqual({
      DATABASE_PASSWORD:
        'arn:aws:secretsmanager:us-east-2:210987654321:secret:platform/silo-db-QwErTy:secret::',
      REDIS_PASSWORD: 'arn:aws:secretsmanager:us-east-2:210987654321:secret:platform/silo-redis-AsDfGh',
    });
    expect(ownStores.stack.stackName).toBe('silo-services');
  });

  it('runs each process from the image with its own command', () => {
    const commands = Object.fromEntries(
      CONTAINERS.map((name) => [name, taskDefinition(byDefault.json, name).container.Command.join(' ')]),
    );
    expect(commands).toEqual({
      api: 'node dist/apps/control-plane-api/src/main.js',
      worker: 'node dist/apps/provisioning-worker/src/main.js',
      migrate: 'node dist/libs/control-plane-db/src/cli/migrate.js --data-plane-login',
    });
    for (const name of CONTAINERS) {
      expect((taskDefinition(byDefault.json, name).container as unknown as { Image: string }).Image).toBe(
        ECR_IMAGE,
      );
    }
  });

  it('lets the API listen on 0.0.0.0:3000 and verify tokens with the JWKS, never a shared secret', () => {
    const { container } = taskDefinition(byDefault.json, 'api');
    expect(environmentOf(container)).toMatchObject({
      HOST: '0.0.0.0',
      PORT: '3000',
      AUTH_JWKS_URL: JWKS,
      AUTH_ISSUER: 'https://login.example.com/',
      AUTH_AUDIENCE: 'silo-control-plane',
    });
    expect(container.PortMappings).toEqual([
      expect.objectContaining({ ContainerPort: 3000 }),
      expect.objectContaining({ ContainerPort: 9464 }),
    ]);
    for (const name of CONTAINERS) {
      expect(environmentOf(taskDefinition(byDefault.json, name).container)).not.toHaveProperty(
        'AUTH_JWT_SECRET',
      );
    }
  });

  it('serves the API’s metrics on their own port, and keeps idle connections longer than the load balancer', () => {
    const env = environmentOf(taskDefinition(byDefault.json, 'api').container);
    expect(env).toMatchObject({
      METRICS_PORT: '9464',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
      HTTP_HEADERS_TIMEOUT_MS: '66000',
    });
    expect(Number(env.HTTP_KEEP_ALIVE_TIMEOUT_MS)).toBeGreaterThan(60_000);
    for (const name of ['worker', 'migrate'] as const) {
      const other = environmentOf(taskDefinition(byDefault.json, name).container);
      expect(other).not.toHaveProperty('METRICS_PORT');
      expect(other).not.toHaveProperty('HTTP_KEEP_ALIVE_TIMEOUT_MS');
    }
  });

  it('refuses an API keep-alive that does not outlast the load balancer’s idle timeout', () => {
    const { props } = servicesFromContext((key) => (CONTEXT as Record<string, unknown>)[key]);
    expect(
      () => new SiloServicesStack(new App(), 'Short', { ...props, apiKeepAliveTimeoutMs: 60_000 }),
    ).toThrow(/apiKeepAliveTimeoutMs \(60000\) must exceed the load balancer's idle timeout \(60000 ms\)/);
    expect(
      () =>
        new SiloServicesStack(new App(), 'LongIdle', {
          ...props,
          loadBalancer: { ...props.loadBalancer, idleTimeout: Duration.seconds(120) },
        }),
    ).toThrow(/must exceed the load balancer's idle timeout \(120000 ms\)/);
    const longer = new SiloServicesStack(new App(), 'Longer', {
      ...props,
      loadBalancer: { ...props.loadBalancer, idleTimeout: Duration.seconds(120) },
      apiKeepAliveTimeoutMs: 125_000,
    });
    const template = Template.fromStack(longer);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'idle_timeout.timeout_seconds', Value: '120' }]),
    });
    const env = environmentOf(taskDefinition(template.toJSON() as TemplateJson, 'api').container);
    expect(env).toMatchObject({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '125000', HTTP_HEADERS_TIMEOUT_MS: '126000' });
  });

  it('stops each process only after its own shutdown deadline has passed', () => {
    for (const [name, stopTimeout] of [
      ['api', 30],
      ['worker', 60],
    ] as const) {
      const { container } = taskDefinition(byDefault.json, name);
      const grace = Number(environmentOf(container).SHUTDOWN_GRACE_MS);
      expect({ name, stopTimeout: container.StopTimeout }).toEqual({ name, stopTimeout });
      expect(grace).toBeGreaterThan(10_000);
      expect(grace).toBeLessThanOrEqual(stopTimeout * 1000 - 10_000);
    }
    expect(
      environmentOf(taskDefinition(byDefault.json, 'worker').container).QUEUE_METRICS_INTERVAL_SECONDS,
    ).toBe('60');
  });

  it('refuses an environment that Silo would refuse at start-up', () => {
    const { props } = servicesFromContext((key) => (CONTEXT as Record<string, unknown>)[key]);
    expect(
      () =>
        new SiloServicesStack(new App(), 'Bad', { ...props, auth: { ...props.auth, jwksUrl: 'not a url' } }),
    ).toThrow(/the api container's environment would not pass Silo's configuration: AUTH_JWKS_URL: /);
  });
});

describe('IAM', () => {
  const roleOf = (json: TemplateJson, container: string, property: 'TaskRoleArn' | 'ExecutionRoleArn') =>
    resource(json, taskDefinition(json, container).task.Properties?.[property]);

  it('gives each task role exactly its managed policy from the outputs, and nothing inline', () => {
    const expected = {
      api: [deployed.ControlPlaneApiPolicyArn],
      worker: [deployed.ProvisioningWorkerPolicyArn],
      migrate: [deployed.ControlPlaneMigratePolicyArn],
    };
    for (const name of CONTAINERS) {
      const role = roleOf(byDefault.json, name, 'TaskRoleArn');
      expect({ name, policies: (role.Properties?.ManagedPolicyArns as unknown[] | undefined) ?? [] }).toEqual(
        {
          name,
          policies: expected[name],
        },
      );
      expect(role.Properties?.Policies).toBeUndefined();
      expect(role.Properties?.AssumeRolePolicyDocument).toEqual({
        Version: '2012-10-17',
        Statement: [
          expect.objectContaining({
            Principal: { Service: 'ecs-tasks.amazonaws.com' },
            Condition: expect.objectContaining({
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            }),
          }),
        ],
      });
    }
    byDefault.template.resourceCountIs('AWS::IAM::Policy', 0);
    byDefault.template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
  });

  it('lets each execution role read exactly the secrets its task definition names, through the tenant key', () => {
    for (const json of [byDefault.json, ownStores.json]) {
      for (const name of CONTAINERS) {
        const { container } = taskDefinition(json, name);
        const named = [
          ...new Set(Object.values(secretsOf(container)).map((v) => v.replace(/:[^:]*::$/, ''))),
        ].sort();
        const statements = policyStatements(roleOf(json, name, 'ExecutionRoleArn'));
        const reading = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
        expect(reading.flatMap(actionsOf)).toEqual(['secretsmanager:GetSecretValue']);
        expect({ name, secrets: reading.flatMap(resourcesOf).sort() }).toEqual({ name, secrets: named });

        const decrypt = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
        expect(decrypt).toHaveLength(1);
        expect(actionsOf(decrypt[0])).toEqual(['kms:Decrypt']);
        const key = json === byDefault.json ? deployed.KmsKeyId : /key\/11111111-2222/;
        expect(resourcesOf(decrypt[0])).toEqual([key instanceof RegExp ? expect.stringMatching(key) : key]);
        const condition = decrypt[0].Condition?.StringEquals ?? {};
        expect(render(condition['kms:ViaService'])).toMatch(
          /^secretsmanager\.(eu-west-1|us-east-2)\.\$\{AWS::URLSuffix\}$/,
        );
        expect([...(condition['kms:EncryptionContext:SecretARN'] as string[])].sort()).toEqual(named);
      }
    }
  });

  it("lets each execution role write to its own log group and pull only the image's repository", () => {
    for (const name of CONTAINERS) {
      const { container } = taskDefinition(byDefault.json, name);
      const statements = policyStatements(roleOf(byDefault.json, name, 'ExecutionRoleArn'));
      const actions = statements.flatMap(actionsOf).sort();
      expect(actions).toEqual(
        [
          'ecr:BatchCheckLayerAvailability',
          'ecr:BatchGetImage',
          'ecr:GetAuthorizationToken',
          'ecr:GetDownloadUrlForLayer',
          'kms:Decrypt',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'secretsmanager:GetSecretValue',
        ].sort(),
      );
      const logs = statements.find((s) => actionsOf(s).includes('logs:PutLogEvents'))!;
      expect(resourcesOf(logs)).toEqual([
        `\${${render(container.LogConfiguration.Options['awslogs-group']).slice(2, -1)}.Arn}`,
      ]);
      const pull = statements.find((s) => actionsOf(s).includes('ecr:BatchGetImage'))!;
      expect(resourcesOf(pull)).toEqual([
        'arn:${AWS::Partition}:ecr:eu-west-1:123456789012:repository/silo/control-plane',
      ]);
    }
    // An image from another registry: no ECR rights at all.
    for (const name of CONTAINERS) {
      const actions = policyStatements(roleOf(tuned.json, name, 'ExecutionRoleArn')).flatMap(actionsOf);
      expect(actions.filter((a) => a.startsWith('ecr:'))).toEqual([]);
    }
  });

  it('allows no wildcard action, and "*" only for ecr:GetAuthorizationToken', () => {
    for (const json of [byDefault.json, tuned.json, ownStores.json]) {
      const policies = policiesIn(json);
      expect(leastPrivilegeViolations(policies)).toEqual([]);
      const onStar = policies
        .flatMap((p) => p.statements)
        .filter((s) => resourcesOf(s).includes('*'))
        .flatMap(actionsOf);
      expect([...new Set(onStar)]).toEqual(json === tuned.json ? [] : ['ecr:GetAuthorizationToken']);
    }
  });
});

describe('network and load balancer', () => {
  it('checks API health on /readyz, port 3000', () => {
    byDefault.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/readyz',
      Port: 3000,
      Protocol: 'HTTP',
      TargetType: 'ip',
      Matcher: { HttpCode: '200' },
    });
    byDefault.template.hasResourceProperties('AWS::ECS::Service', {
      LoadBalancers: [{ ContainerName: 'api', ContainerPort: 3000, TargetGroupArn: Match.anyValue() }],
      DesiredCount: 2,
    });
  });

  it('keeps idle connections 60 s at the load balancer, less than the API keeps them', () => {
    byDefault.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'idle_timeout.timeout_seconds', Value: '60' }]),
    });
  });

  it('forwards the API port only: the metrics port is in no target group, listener or security group rule', () => {
    const groups = resourcesOfType(byDefault.json, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(groups.map(([, g]) => g.Properties?.Port)).toEqual([3000]);
    expect(
      resourcesOfType(byDefault.json, 'AWS::ElasticLoadBalancingV2::Listener').map(
        ([, l]) => l.Properties?.Port,
      ),
    ).toEqual([80]);
    for (const [, service] of resourcesOfType(byDefault.json, 'AWS::ECS::Service')) {
      for (const lb of (service.Properties?.LoadBalancers as { ContainerPort: number }[] | undefined) ?? []) {
        expect(lb.ContainerPort).toBe(3000);
      }
    }
    const ports = (type: string) =>
      resourcesOfType(byDefault.json, type).map(([, r]) => [r.Properties?.FromPort, r.Properties?.ToPort]);
    expect([...ports('AWS::EC2::SecurityGroupIngress'), ...ports('AWS::EC2::SecurityGroupEgress')]).toEqual([
      [3000, 3000],
      [3000, 3000],
    ]);
    expect(JSON.stringify(byDefault.json.Resources)).not.toMatch(/"(FromPort|ToPort|Port)":\s*9464/);
  });

  it('is internal on HTTP by default, open to the VPC only', () => {
    byDefault.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internal',
      Subnets: SUBNETS,
    });
    byDefault.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
    });
    byDefault.template.resourcePropertiesCountIs(
      'AWS::ElasticLoadBalancingV2::Listener',
      { Protocol: 'HTTPS' },
      0,
    );
    expect(render(byDefault.json.Outputs?.ApiUrl.Value)).toMatch(
      /^http:\/\/\$\{LoadBalancer[A-Z0-9]+\.DNSName\}$/,
    );
  });

  it('serves HTTPS with the given certificate when asked, internet-facing from public subnets', () => {
    tuned.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Subnets: PUBLIC_SUBNETS,
    });
    tuned.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: Match.stringLikeRegexp('^arn:aws:acm:') }],
      SslPolicy: Match.stringLikeRegexp('^ELBSecurityPolicy-TLS13'),
    });
    tuned.template.resourcePropertiesCountIs(
      'AWS::ElasticLoadBalancingV2::Listener',
      { Protocol: 'HTTP' },
      0,
    );
    expect(render(tuned.json.Outputs?.ApiUrl.Value)).toMatch(/^https:\/\//);
    tuned.template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 3 });
  });

  it('admits clients to the listener from the given range, and the load balancer to the API tasks only', () => {
    const groups = resourcesOfType(byDefault.json, 'AWS::EC2::SecurityGroup');
    const [[albId, alb]] = groups.filter(([, g]) =>
      /^Silo API load balancer/.test(String(g.Properties?.GroupDescription)),
    );
    const [[apiId, api]] = groups.filter(([, g]) =>
      /^Silo API tasks/.test(String(g.Properties?.GroupDescription)),
    );
    expect(alb.Properties?.SecurityGroupIngress).toEqual([
      expect.objectContaining({ CidrIp: '10.20.0.0/16', FromPort: 80, ToPort: 80, IpProtocol: 'tcp' }),
    ]);
    expect(api.Properties?.SecurityGroupIngress).toBeUndefined();
    const rule = (type: string) =>
      resourcesOfType(byDefault.json, type).map(([, r]) => ({
        group: render(r.Properties?.GroupId),
        peer: render(r.Properties?.SourceSecurityGroupId ?? r.Properties?.DestinationSecurityGroupId),
        ports: `${String(r.Properties?.FromPort)}-${String(r.Properties?.ToPort)}`,
      }));
    expect(rule('AWS::EC2::SecurityGroupIngress')).toEqual([
      { group: `\${${apiId}.GroupId}`, peer: `\${${albId}.GroupId}`, ports: '3000-3000' },
    ]);
    expect(rule('AWS::EC2::SecurityGroupEgress')).toEqual([
      { group: `\${${albId}.GroupId}`, peer: `\${${apiId}.GroupId}`, ports: '3000-3000' },
    ]);
    const tunedAlb = resourcesOfType(tuned.json, 'AWS::EC2::SecurityGroup').find(([, g]) =>
      /^Silo API load balancer/.test(String(g.Properties?.GroupDescription)),
    )!;
    expect(tunedAlb[1].Properties?.SecurityGroupIngress).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 }),
    ]);
  });

  it("puts every task in the private subnets with the prerequisites' control-plane group, no public IP", () => {
    const services = resourcesOfType(byDefault.json, 'AWS::ECS::Service');
    expect(services).toHaveLength(2);
    for (const [, service] of services) {
      const network = (
        service.Properties?.NetworkConfiguration as { AwsvpcConfiguration: Record<string, unknown> }
      ).AwsvpcConfiguration;
      expect(network.Subnets).toEqual(SUBNETS);
      expect(network.AssignPublicIp).toBe('DISABLED');
      expect(network.SecurityGroups).toEqual(expect.arrayContaining([deployed.ControlPlaneSecurityGroupId]));
      expect(service.Properties?.LaunchType).toBe('FARGATE');
    }
    expect(render(byDefault.json.Outputs?.MigrateNetworkConfiguration.Value)).toBe(
      `awsvpcConfiguration={subnets=[${SUBNETS.join(',')}],securityGroups=[${deployed.ControlPlaneSecurityGroupId}],assignPublicIp=DISABLED}`,
    );
  });

  it('runs the cluster with Container Insights', () => {
    byDefault.template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterName: 'acme-control-plane',
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });
});

describe('worker scaling', () => {
  const alarms = (json: TemplateJson) =>
    resourcesOfType(json, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties!);

  it('scales the workers between workerMin and workerMax, and leaves their count to scaling', () => {
    byDefault.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 4,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    tuned.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 2,
      MaxCapacity: 8,
    });
    const worker = resourcesOfType(byDefault.json, 'AWS::ECS::Service').find(
      ([, s]) =>
        s.Properties?.LoadBalancers === undefined || (s.Properties.LoadBalancers as unknown[]).length === 0,
    )!;
    expect(worker[1].Properties).not.toHaveProperty('DesiredCount');
  });

  it('alarms on the backlog Silo publishes: Silo / ProvisioningQueueBacklog / ResourcePrefix, Maximum per minute', () => {
    const found = alarms(byDefault.json);
    expect(found).toHaveLength(2);
    for (const alarm of found) {
      expect(alarm).toMatchObject({
        Namespace: 'Silo',
        MetricName: 'ProvisioningQueueBacklog',
        Dimensions: [{ Name: 'ResourcePrefix', Value: 'acme' }],
        Statistic: 'Maximum',
        Period: 60,
      });
    }
  });

  it('scales out after two minutes with a backlog, and in only after a quarter hour without one', () => {
    const out = alarms(byDefault.json).find((a) => a.ComparisonOperator === 'GreaterThanOrEqualToThreshold')!;
    const into = alarms(byDefault.json).find((a) => a.ComparisonOperator === 'LessThanOrEqualToThreshold')!;
    expect(out).toMatchObject({ Threshold: 1, EvaluationPeriods: 2 });
    expect(into).toMatchObject({ Threshold: 0, EvaluationPeriods: 15 });
    const policies = resourcesOfType(byDefault.json, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(
      ([, p]) =>
        p.Properties?.StepScalingPolicyConfiguration as {
          Cooldown: number;
          StepAdjustments: { ScalingAdjustment: number }[];
        },
    );
    const scaleIn = policies.find((p) => p.StepAdjustments.every((s) => s.ScalingAdjustment < 0))!;
    const scaleOut = policies.find((p) => p.StepAdjustments.every((s) => s.ScalingAdjustment > 0))!;
    expect(scaleIn).toMatchObject({ Cooldown: 600, StepAdjustments: [{ ScalingAdjustment: -1 }] });
    expect(scaleOut.StepAdjustments.map((s) => s.ScalingAdjustment)).toEqual([1, 2, 4]);
  });

  it('names the metric as libs/aws publishes it', () => {
    const dir = join(root, 'libs/aws/src');
    const publisher = readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .find((text) => text.includes('new PutMetricDataCommand('));
    expect(publisher).toBeDefined();
    for (const name of [
      QUEUE_DEPTH_METRIC.namespace,
      QUEUE_DEPTH_METRIC.backlog,
      QUEUE_DEPTH_METRIC.dimension,
    ]) {
      expect({ name, published: publisher!.includes(`'${name}'`) }).toEqual({ name, published: true });
    }
  });
});

describe('logs', () => {
  it('sends each process to its own log group with the awslogs driver, kept 30 days by default', () => {
    for (const [json, days] of [
      [byDefault.json, 30],
      [tuned.json, 90],
    ] as const) {
      for (const [name, group] of [
        ['api', '/silo/acme/api'],
        ['worker', '/silo/acme/worker'],
        ['migrate', '/silo/acme/migrate'],
      ]) {
        const { container } = taskDefinition(json, name);
        expect(container.LogConfiguration.LogDriver).toBe('awslogs');
        const logGroup = resource(json, container.LogConfiguration.Options['awslogs-group']);
        expect({ name, props: logGroup.Properties }).toEqual({
          name,
          props: expect.objectContaining({ LogGroupName: group, RetentionInDays: days }),
        });
      }
    }
  });
});

describe('outputs', () => {
  it('says where everything is, and holds no secret', () => {
    expect(Object.keys(byDefault.json.Outputs ?? {}).sort()).toEqual(
      [
        'ApiUrl',
        'ClusterName',
        'ApiServiceName',
        'WorkerServiceName',
        'MigrateTaskDefinitionArn',
        'TaskSubnetIds',
        'TaskSecurityGroupIds',
        'MigrateNetworkConfiguration',
        'ApiLogGroupName',
        'WorkerLogGroupName',
        'MigrateLogGroupName',
      ].sort(),
    );
    const value = (key: string) => render(byDefault.json.Outputs?.[key].Value);
    expect(value('TaskSubnetIds')).toBe(SUBNETS.join(','));
    expect(value('TaskSecurityGroupIds')).toBe(deployed.ControlPlaneSecurityGroupId);
    expect(value('MigrateTaskDefinitionArn')).toBe(
      `\${${resourcesOfType(byDefault.json, 'AWS::ECS::TaskDefinition').find(([, t]) => t.Properties?.Family === 'acme-migrate')![0]}}`,
    );
    for (const [key, output] of Object.entries(byDefault.json.Outputs ?? {})) {
      expect({ key, text: render(output.Value) }).not.toEqual({
        key,
        text: expect.stringMatching(/secretsmanager|SecretString|:\/\/[^@/]*:[^@/]*@/),
      });
    }
  });
});

describe('context', () => {
  const from = (overrides: Record<string, unknown>, without: string[] = []) => {
    const context: Record<string, unknown> = { ...CONTEXT, ...overrides };
    for (const key of without) delete context[key];
    return () => servicesFromContext((key) => context[key]);
  };

  it("points TENANT_DB_CA_FILE at the CA bundle Silo's image carries unless rdsCaFile names another", () => {
    const { props } = servicesFromContext(
      (key) => ({ ...CONTEXT, rdsCaFile: undefined })[key as keyof typeof CONTEXT],
    );
    expect(props.rdsCaFile).toBe(IMAGE_RDS_CA_BUNDLE);
    expect(from({ rdsCaFile: 'certs/ca.pem' })).toThrow(
      /^context rdsCaFile must be an absolute path inside the image/,
    );
  });

  it('names the key of each missing or bad value', () => {
    expect(from({}, ['image'])).toThrow(/^context image is required/);
    expect(from({}, ['prerequisitesOutputs'])).toThrow(/^context prerequisitesOutputs is required/);
    expect(from({}, ['authJwksUrl'])).toThrow(/^context authJwksUrl is required/);
    expect(from({}, ['vpcId'])).toThrow(/^context vpcId is required/);
    expect(from({ image: 'silo' })).toThrow(
      /^context image must be an image URI with a tag or @sha256 digest/,
    );
    expect(from({ vpcId: 'vpc-xyz' })).toThrow(/^context vpcId must be a VPC id/);
    expect(from({ privateSubnetIds: 'subnet-0aaaaaaaaaaaaaaaa,sub-2' })).toThrow(
      /^context privateSubnetIds must be/,
    );
    expect(from({ privateSubnetIds: SUBNETS[0] })).toThrow(
      /^context privateSubnetIds: give subnets in at least two/,
    );
    expect(from({ certificateArn: 'arn:aws:iam::123456789012:server-certificate/x' })).toThrow(
      /^context certificateArn must be an ACM certificate ARN/,
    );
    expect(from({ albScheme: 'public' })).toThrow(/^context albScheme must be internal or internet-facing/);
    expect(from({ albIngressCidr: '10.0.0.0/33' })).toThrow(/^context albIngressCidr must be an IPv4 CIDR/);
    expect(from({ logRetentionDays: 31 })).toThrow(/^context logRetentionDays must be one of .*\b30\b/);
    expect(from({ environment: 'Prod_1' })).toThrow(/^context environment \(SILO_ENVIRONMENT\)/);
    expect(from({ authJwksUrl: 'http://login.example.com/jwks' })).toThrow(
      /^context authJwksUrl must be an https/,
    );
    expect(from({ apiDesiredCount: 'two' })).toThrow(/^context apiDesiredCount must be an integer/);
  });

  it('keeps at least one worker, and workerMin at most workerMax', () => {
    expect(from({ workerMin: 0 })).toThrow(
      /^context workerMin must be at least 1 \(the workers publish the metric/,
    );
    expect(from({ workerMin: '5', workerMax: '3' })).toThrow(
      /^context workerMin \(5\) must not be above workerMax \(3\)/,
    );
    expect(from({ workerMax: 0 })).toThrow(/^context workerMax must be between 1 and 100/);
    expect(from({ workerMin: '6' })().props.workerCapacity).toEqual({ min: 6, max: 6 });
  });

  it('asks for public subnets and a client range before facing the internet', () => {
    expect(from({ albScheme: 'internet-facing', albIngressCidr: '0.0.0.0/0' })).toThrow(
      /^context publicSubnetIds is required/,
    );
    expect(from({ albScheme: 'internet-facing', publicSubnetIds: PUBLIC_SUBNETS.join(',') })).toThrow(
      /^context albIngressCidr is required for an internet-facing load balancer/,
    );
    expect(from({}, ['vpcCidr'])).toThrow(/^context albIngressCidr \(or vpcCidr\) is required/);
  });

  it('requires a secret for every store, and no password in a URL', () => {
    expect(from({ prerequisitesOutputs: DESCRIBED })).toThrow(
      /^context databaseUrl is required: .* has no DatabaseUrl/,
    );
    const own = { prerequisitesOutputs: DESCRIBED, databaseUrl: 'postgresql://silo@db.example.com/silo' };
    expect(from(own)).toThrow(/^context databaseSecretArn is required: .* has no DatabaseSecretArn/);
    expect(
      from({ ...own, databaseSecretArn: 'arn:aws:secretsmanager:us-east-2:210987654321:secret:silo-db' }),
    ).toThrow(/^context databaseSecretArn must be a complete Secrets Manager secret ARN/);
    expect(from({ ...own, databaseUrl: 'postgresql://silo:hunter2@db.example.com/silo' })).toThrow(
      /^context databaseUrl must not carry a password/,
    );
    expect(
      from({ databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-AbCdEf' }),
    ).toThrow(/^context databaseSecretArn: .* already has DatabaseSecretArn; leave databaseSecretArn unset/);
  });

  it('reads either outputs file, and says what is missing from it', () => {
    const twoStacks = join(__dirname, 'fixtures/two-stacks.outputs.json');
    expect(from({ prerequisitesOutputs: twoStacks })).toThrow(
      /^context prerequisitesOutputs: .*: name one stack of: acme-prerequisites, acme-services \(context stackName picks one\)$/,
    );
    expect(from({ prerequisitesOutputs: twoStacks, stackName: 'acme-services' })).toThrow(
      /^context prerequisitesOutputs: .* has no output AwsRegion; is it the prerequisites stack's\?$/,
    );
    expect(
      from({ prerequisitesOutputs: twoStacks, stackName: 'acme-prerequisites' })().props.prerequisites,
    ).toEqual(from({})().props.prerequisites);
    expect(from({ prerequisitesOutputs: join(__dirname, 'fixtures/none.json') })).toThrow(
      /^context prerequisitesOutputs: cannot read .*none\.json/,
    );
    expect(from({ prerequisitesOutputs: CDK_OUTPUTS, stackName: 'other' })).toThrow(
      /name one stack of: acme-prerequisites \(context stackName picks one\)$/,
    );
  });

  it('accepts every services key on the command line', () => {
    for (const key of SERVICES_CONTEXT_KEYS) expect(CONTEXT_KEYS).toContain(key);
  });
});

describe('the app', () => {
  const stacksOf = (context: Record<string, unknown>) => {
    const app = new App({ builtinCloudFormationValidation: false, context });
    addSiloStacks(app);
    return app.synth().stacks.map((s) => s.stackName);
  };

  it('synthesizes only the prerequisites stack without services context, as before', () => {
    expect(stacksOf({})).toEqual(['silo-prerequisites']);
    expect(
      stacksOf({ prefix: 'acme', vpcId: CONTEXT.vpcId, privateSubnetIds: CONTEXT.privateSubnetIds }),
    ).toEqual(['acme-prerequisites']);
  });

  it('synthesizes only the services stack when given an image, named after the prefix in the outputs', () => {
    expect(stacksOf(CONTEXT)).toEqual(['acme-services']);
    expect(stacksOf({ ...CONTEXT, servicesStackName: 'control-plane' })).toEqual(['control-plane']);
  });

  it('refuses services context without an image instead of ignoring it', () => {
    const { image: _image, ...withoutImage } = CONTEXT;
    expect(() => stacksOf(withoutImage)).toThrow(/^context image is required/);
  });
});

describe('real AWS, never an emulator', () => {
  it('sets neither AWS_EMULATOR nor AWS_ENDPOINT_URL, so every container needs the alarm topic', () => {
    for (const json of [byDefault.json, tuned.json, ownStores.json]) {
      for (const name of CONTAINERS) {
        const { container } = taskDefinition(json, name);
        const env = environmentOf(container);
        expect({ name, emulator: env.AWS_EMULATOR, endpoint: env.AWS_ENDPOINT_URL }).toEqual({
          name,
          emulator: undefined,
          endpoint: undefined,
        });
        const { ALARM_SNS_TOPIC_ARN: _topic, ...withoutTopic } = {
          ...env,
          ...Object.fromEntries(Object.keys(secretsOf(container)).map((k) => [k, 'x'])),
        };
        const parsed = environmentSchema.safeParse(withoutTopic);
        expect(parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'))).toEqual([
          'ALARM_SNS_TOPIC_ARN',
        ]);
      }
    }
  });
});

describe("the prerequisites' environment", () => {
  const withEnvironment = (environment: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'silo-outputs-'));
    const file = join(dir, 'outputs.json');
    writeFileSync(
      file,
      JSON.stringify({ 'acme-prerequisites': { ...deployed, SiloEnvironment: environment } }),
    );
    return file;
  };

  it('takes SILO_ENVIRONMENT from the outputs, and refuses a context environment that differs', () => {
    const file = withEnvironment('staging');
    const from = (context: Record<string, unknown>) =>
      servicesFromContext(
        (key) => ({ ...CONTEXT, prerequisitesOutputs: file, ...context })[key as keyof typeof CONTEXT],
      );
    expect(from({}).props.siloEnvironment).toBe('staging');
    expect(from({ environment: 'staging' }).props.siloEnvironment).toBe('staging');
    expect(() => from({ environment: 'production' })).toThrow(
      /^context environment \(SILO_ENVIRONMENT\) is "production", but .* has SiloEnvironment "staging"/,
    );
  });
});
