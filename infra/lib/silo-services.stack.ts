import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Annotations,
  CfnOutput,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  Tags,
  type StackProps,
} from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { environmentSchema, type EnvironmentVariable } from '../../libs/config/src/config.schema';
import { executionRole, taskRole } from './service-roles';
import { QUEUE_DEPTH_METRIC, assertResourcePrefix, serviceNames } from './silo-names';

/** What the services take from the prerequisites stack's outputs. */
export interface PrerequisitesOutputs {
  /** AwsRegion: the region of the tenant resources and of the secrets below. */
  region: string;
  /** SiloResourcePrefix. */
  prefix: string;
  /** KmsKeyId: the tenant key's ARN; the control-plane secrets are encrypted under it. */
  kmsKeyArn: string;
  alarmTopicArn: string;
  /** TenantExportBucket: where deleted schema and pool tenants' exports go. */
  tenantExportBucket: string;
  /** TenantExportRetentionDays: what the bucket's lifecycle keeps them for. */
  tenantExportRetentionDays: string;
  rdsSubnetGroup: string;
  rdsSecurityGroupIds: string;
  /** Attached to every task: admitted to tenant instances and the control-plane stores. */
  controlPlaneSecurityGroupId: string;
  workerPolicyArn: string;
  apiPolicyArn: string;
  /** ControlPlaneMigratePolicyArn: the migration keeps the data plane's login secret. */
  migratePolicyArn: string;
}

/** Another region of tenants, from its prerequisites stack's outputs. */
export interface OtherRegion {
  region: string;
  /** Its SILO_REGION_SETTINGS_FILE entry (RegionSettingsEntry). */
  settings: Record<string, unknown>;
  /** Its ProvisioningWorkerPolicyArn and ControlPlaneApiPolicyArn: that region's resources. */
  workerPolicyArn: string;
  apiPolicyArn: string;
}

/** A Secrets Manager secret by its complete ARN; `field` is a JSON key, else the whole string. */
export interface SecretReference {
  arn: string;
  field?: string;
}

export interface SiloServicesProps extends StackProps {
  prerequisites: PrerequisitesOutputs;
  /**
   * The other regions tenants may live in (SILO_REGIONS after the home region, each one's entry
   * of SILO_REGION_SETTINGS_FILE, its policies on the worker's and API's roles). Default: none.
   */
  otherRegions?: readonly OtherRegion[];
  /** Silo's image, with a tag or digest. An ECR image is pulled with rights on its repository only. */
  image: string;
  network: {
    vpcId: string;
    /** Private subnets of the tasks (two AZs at least). */
    taskSubnetIds: readonly string[];
    /** Subnets of the load balancer: public ones when it is internet-facing. */
    loadBalancerSubnetIds: readonly string[];
  };
  loadBalancer: {
    internetFacing: boolean;
    /** Who may reach the listener. */
    ingressCidr: string;
    /** HTTPS on 443 with this certificate; without it, HTTP on 80 (for trying it out only). */
    certificateArn?: string;
    /** How long the load balancer keeps an idle connection, to clients and to the API. Default: 60 s. */
    idleTimeout?: Duration;
  };
  /**
   * HTTP_KEEP_ALIVE_TIMEOUT_MS of the API: how long it keeps an idle connection from the load
   * balancer. Must exceed `loadBalancer.idleTimeout`, so that the balancer, never the API, closes
   * an idle connection (else it may send a request on one the API has just closed: a 502).
   * Default: 65000.
   */
  apiKeepAliveTimeoutMs?: number;
  /** DATABASE_URL without a password; the secret's `field` becomes DATABASE_PASSWORD. */
  database: { url: string; secret: SecretReference };
  /** REDIS_URL without a password; the secret (or its `field`) becomes REDIS_PASSWORD. */
  redis: { url: string; secret: SecretReference };
  auth: { jwksUrl: string; issuer?: string; audience?: string };
  /** SILO_ENVIRONMENT. */
  siloEnvironment: string;
  /** Path of the Amazon RDS CA bundle inside the image (TENANT_DB_CA_FILE, NODE_EXTRA_CA_CERTS). */
  rdsCaFile: string;
  apiDesiredCount: number;
  workerCapacity: { min: number; max: number };
  logRetention: logs.RetentionDays;
}

export const SERVICES_TAG = { key: 'silo:component', value: 'services' } as const;
export const API_PORT = 3000;
/** The API's METRICS_PORT: reachable inside the task's network only, never through the load balancer. */
export const API_METRICS_PORT = 9464;
export const DEFAULT_LOAD_BALANCER_IDLE_TIMEOUT = Duration.seconds(60);
export const DEFAULT_API_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * How long each process may take to stop. ECS sends SIGTERM, waits stopTimeout, then SIGKILL;
 * SHUTDOWN_GRACE_MS (the process's own deadline) ends well before, so a stop is always clean.
 * The worker's is long: BullMQ lets the jobs in hand finish (steps are short: every long wait is
 * a delayed job, not a held one). A job cut off anyway is resumed by another worker.
 */
const STOPPING = {
  api: { stopTimeout: Duration.seconds(30), graceMs: 20_000 },
  worker: { stopTimeout: Duration.seconds(60), graceMs: 50_000 },
};
const QUEUE_METRICS_INTERVAL_SECONDS = 60;

const COMMANDS = {
  api: ['node', 'dist/apps/control-plane-api/src/main.js'],
  worker: ['node', 'dist/apps/provisioning-worker/src/main.js'],
  // Then the data plane's login: its secret's endpoint and the role's password (docs/data-plane.md).
  migrate: ['node', 'dist/libs/control-plane-db/src/cli/migrate.js', '--data-plane-login'],
};

type Environment = Partial<Record<EnvironmentVariable, string>>;

/**
 * ECS sets variables, not files: with other regions, each container writes SILO_REGION_SETTINGS_FILE
 * from this variable before Silo starts (`exec`, so the process still gets ECS's signals).
 */
export const REGION_SETTINGS_VARIABLE = 'SILO_REGION_SETTINGS_JSON';
export const REGION_SETTINGS_PATH = '/tmp/silo-region-settings.json';
const writeRegionSettingsThen = (command: readonly string[]) => [
  'sh',
  '-c',
  `printf '%s' "$${REGION_SETTINGS_VARIABLE}" > ${REGION_SETTINGS_PATH} && exec "$@"`,
  'sh',
  ...command,
];

/**
 * Silo's own processes on ECS Fargate, from one image: the control-plane API behind an
 * Application Load Balancer, the provisioning worker (scaled on the provisioning queue's
 * backlog) and a one-off task definition that applies the control-plane migrations. Its
 * configuration comes from the prerequisites stack's outputs; passwords come from Secrets Manager.
 */
export class SiloServicesStack extends Stack {
  readonly prefix: string;
  readonly cluster: ecs.Cluster;
  readonly api: ecs.FargateService;
  readonly worker: ecs.FargateService;
  readonly migrateTask: ecs.FargateTaskDefinition;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;

  constructor(scope: Construct, id: string, props: SiloServicesProps) {
    super(scope, id, props);
    const p = props.prerequisites;
    this.prefix = assertResourcePrefix(p.prefix);
    const names = serviceNames(this.prefix);
    Tags.of(this).add(SERVICES_TAG.key, SERVICES_TAG.value);

    // Only the id is used (security groups, target group); subnets are passed by id. Nothing is
    // looked up, so the AZs stay a deploy-time list, as in the prerequisites stack.
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: props.network.vpcId,
      availabilityZones: Fn.getAzs(),
    });
    const subnets = (kind: string, ids: readonly string[]): ec2.SubnetSelection => ({
      subnets: ids.map((subnetId, i) => ec2.Subnet.fromSubnetId(this, `${kind}Subnet${i}`, subnetId)),
    });
    const taskSubnets = subnets('Task', props.network.taskSubnetIds);

    // The prerequisites' group: tenant instances and the control-plane stores admit it. Not ours
    // to change (it may be the team's own), and it carries the tasks' outbound traffic.
    const controlPlane = ec2.SecurityGroup.fromSecurityGroupId(
      this,
      'ControlPlane',
      p.controlPlaneSecurityGroupId,
      {
        mutable: false,
      },
    );

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      clusterName: names.cluster,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    const image = ecs.ContainerImage.fromRegistry(props.image);
    const logGroup = (id: string, logGroupName: string) =>
      new logs.LogGroup(this, id, {
        logGroupName,
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    const apiLogs = logGroup('ApiLogs', names.apiLogGroup);
    const workerLogs = logGroup('WorkerLogs', names.workerLogGroup);
    const migrateLogs = logGroup('MigrateLogs', names.migrateLogGroup);

    const idleTimeout = props.loadBalancer.idleTimeout ?? DEFAULT_LOAD_BALANCER_IDLE_TIMEOUT;
    const keepAliveTimeoutMs = props.apiKeepAliveTimeoutMs ?? DEFAULT_API_KEEP_ALIVE_TIMEOUT_MS;
    if (keepAliveTimeoutMs <= idleTimeout.toMilliseconds()) {
      throw new Error(
        `apiKeepAliveTimeoutMs (${keepAliveTimeoutMs}) must exceed the load balancer's idle timeout (${idleTimeout.toMilliseconds()} ms): the API would close idle connections the load balancer still reuses`,
      );
    }

    const databasePassword = this.secret('DatabasePassword', props.database.secret);
    const redisPassword = this.secret('RedisPassword', props.redis.secret);

    const otherRegions = props.otherRegions ?? [];
    const regionSettings = otherRegions.length
      ? JSON.stringify(Object.fromEntries(otherRegions.map((r) => [r.region, r.settings])))
      : undefined;
    const shared: Environment = {
      NODE_ENV: 'production',
      LOG_FORMAT: 'json',
      AWS_REGION: p.region,
      // The home region's own settings stay in the single-region variables below.
      SILO_REGIONS: regionSettings ? [p.region, ...otherRegions.map((r) => r.region)].join(',') : undefined,
      SILO_REGION_SETTINGS_FILE: regionSettings ? REGION_SETTINGS_PATH : undefined,
      SILO_RESOURCE_PREFIX: this.prefix,
      SILO_ENVIRONMENT: props.siloEnvironment,
      KMS_KEY_ID: p.kmsKeyArn,
      ALARM_SNS_TOPIC_ARN: p.alarmTopicArn,
      TENANT_EXPORT_BUCKET: p.tenantExportBucket,
      TENANT_EXPORT_RETENTION_DAYS: p.tenantExportRetentionDays,
      RDS_SUBNET_GROUP: p.rdsSubnetGroup,
      RDS_SECURITY_GROUP_IDS: p.rdsSecurityGroupIds,
      DATABASE_URL: props.database.url,
      REDIS_URL: props.redis.url,
      TENANT_DB_SSL: 'verify-full',
      TENANT_DB_CA_FILE: props.rdsCaFile,
      // Only the API verifies tokens, but every process loads the same validated configuration,
      // and NODE_ENV=production requires the JWKS (never a shared secret) of each.
      AUTH_JWKS_URL: props.auth.jwksUrl,
      AUTH_ISSUER: props.auth.issuer,
      AUTH_AUDIENCE: props.auth.audience,
    };
    const containers = {
      api: {
        environment: {
          ...shared,
          HOST: '0.0.0.0',
          PORT: String(API_PORT),
          METRICS_PORT: String(API_METRICS_PORT),
          HTTP_KEEP_ALIVE_TIMEOUT_MS: String(keepAliveTimeoutMs),
          HTTP_HEADERS_TIMEOUT_MS: String(keepAliveTimeoutMs + 1000),
          SHUTDOWN_GRACE_MS: String(STOPPING.api.graceMs),
        },
        secrets: { DATABASE_PASSWORD: databasePassword, REDIS_PASSWORD: redisPassword },
      },
      worker: {
        environment: {
          ...shared,
          SHUTDOWN_GRACE_MS: String(STOPPING.worker.graceMs),
          QUEUE_METRICS_INTERVAL_SECONDS: String(QUEUE_METRICS_INTERVAL_SECONDS),
        },
        secrets: { DATABASE_PASSWORD: databasePassword, REDIS_PASSWORD: redisPassword },
      },
      // The migration connects to PostgreSQL and Secrets Manager (the data plane's login) only, but
      // loads the same validated configuration.
      migrate: { environment: shared, secrets: { DATABASE_PASSWORD: databasePassword } },
    } satisfies Record<string, { environment: Environment; secrets: Record<string, ecs.Secret> }>;
    for (const [name, { environment, secrets }] of Object.entries(containers)) {
      assertValidConfiguration(name, environment, Object.keys(secrets), regionSettings);
    }

    const taskDefinition = (
      id: string,
      family: string,
      options: {
        taskRole: iam.IRole;
        logGroup: logs.LogGroup;
        secrets: SecretReference[];
        cpu: number;
        memoryLimitMiB: number;
      },
    ) =>
      new ecs.FargateTaskDefinition(this, id, {
        family,
        cpu: options.cpu,
        memoryLimitMiB: options.memoryLimitMiB,
        runtimePlatform: {
          cpuArchitecture: ecs.CpuArchitecture.X86_64,
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        },
        taskRole: options.taskRole,
        executionRole: executionRole(this, `${id}Execution`, {
          prefix: this.prefix,
          image: props.image,
          prerequisites: props.prerequisites,
          logGroup: options.logGroup,
          secrets: options.secrets,
        }),
      });
    const container = (
      task: ecs.FargateTaskDefinition,
      name: keyof typeof containers,
      logGroup: logs.LogGroup,
      extra: Partial<ecs.ContainerDefinitionOptions> = {},
    ) =>
      task.addContainer(name, {
        containerName: name,
        image,
        command: regionSettings ? writeRegionSettingsThen(COMMANDS[name]) : COMMANDS[name],
        environment: {
          ...definedOnly(containers[name].environment),
          // Node's own TLS (DATABASE_URL's sslmode=verify-full) trusts the RDS CA through this.
          NODE_EXTRA_CA_CERTS: props.rdsCaFile,
          ...(regionSettings ? { [REGION_SETTINGS_VARIABLE]: regionSettings } : {}),
        },
        secrets: containers[name].secrets,
        logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: name }),
        essential: true,
        ...extra,
      });

    // API
    const apiTask = taskDefinition('ApiTask', names.apiFamily, {
      taskRole: taskRole(this, 'ApiTaskRole', {
        prefix: this.prefix,
        what: 'control-plane API',
        managedPolicyArns: [p.apiPolicyArn, ...otherRegions.map((r) => r.apiPolicyArn)],
      }),
      logGroup: apiLogs,
      secrets: [props.database.secret, props.redis.secret],
      cpu: 512,
      memoryLimitMiB: 1024,
    });
    container(apiTask, 'api', apiLogs, {
      // The metrics port is mapped for scrapers in the VPC; no target group or rule reaches it.
      portMappings: [
        { containerPort: API_PORT, protocol: ecs.Protocol.TCP },
        { containerPort: API_METRICS_PORT, protocol: ecs.Protocol.TCP },
      ],
      stopTimeout: STOPPING.api.stopTimeout,
    });

    const apiSecurityGroup = new ec2.SecurityGroup(this, 'ApiSecurityGroup', {
      vpc,
      description: `Silo API tasks (${this.prefix}): port ${API_PORT} from the load balancer only`,
      // Outbound traffic leaves through the control-plane group.
      allowAllOutbound: false,
    });
    const loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description: `Silo API load balancer (${this.prefix}): from ${props.loadBalancer.ingressCidr}, to the API tasks only`,
      allowAllOutbound: false,
    });
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: props.loadBalancer.internetFacing,
      vpcSubnets: subnets('LoadBalancer', props.network.loadBalancerSubnetIds),
      securityGroup: loadBalancerSecurityGroup,
      dropInvalidHeaderFields: true,
      idleTimeout,
    });
    const https = Boolean(props.loadBalancer.certificateArn);
    const listenerPort = https ? 443 : 80;
    loadBalancerSecurityGroup.addIngressRule(
      ec2.Peer.ipv4(props.loadBalancer.ingressCidr),
      ec2.Port.tcp(listenerPort),
      'clients of the control-plane API',
    );
    const listener = props.loadBalancer.certificateArn
      ? this.loadBalancer.addListener('Https', {
          port: 443,
          protocol: elbv2.ApplicationProtocol.HTTPS,
          certificates: [elbv2.ListenerCertificate.fromArn(props.loadBalancer.certificateArn)],
          sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
          open: false,
        })
      : this.loadBalancer.addListener('Http', {
          port: 80,
          protocol: elbv2.ApplicationProtocol.HTTP,
          open: false,
        });

    this.api = new ecs.FargateService(this, 'Api', {
      cluster: this.cluster,
      taskDefinition: apiTask,
      desiredCount: props.apiDesiredCount,
      vpcSubnets: taskSubnets,
      securityGroups: [controlPlane, apiSecurityGroup],
      assignPublicIp: false,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });
    listener.addTargets('Api', {
      port: API_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.api.loadBalancerTarget({ containerName: 'api', containerPort: API_PORT })],
      // /readyz answers 200 once PostgreSQL and Redis answer (503 otherwise); /healthz only
      // says the process runs.
      healthCheck: {
        path: '/readyz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // Requests are short; ECS deregisters a task and waits this long before SIGTERM.
      deregistrationDelay: Duration.seconds(30),
    });
    // CDK lets the load balancer out to every group of the service, the control-plane group too;
    // only the API's group has a listener, so the other rule goes.
    for (const child of loadBalancerSecurityGroup.node.children) {
      if (
        child instanceof ec2.CfnSecurityGroupEgress &&
        child.destinationSecurityGroupId === controlPlane.securityGroupId
      ) {
        loadBalancerSecurityGroup.node.tryRemoveChild(child.node.id);
      }
    }

    // Provisioning worker
    const workerTask = taskDefinition('WorkerTask', names.workerFamily, {
      taskRole: taskRole(this, 'WorkerTaskRole', {
        prefix: this.prefix,
        what: 'provisioning worker',
        managedPolicyArns: [p.workerPolicyArn, ...otherRegions.map((r) => r.workerPolicyArn)],
      }),
      logGroup: workerLogs,
      secrets: [props.database.secret, props.redis.secret],
      cpu: 512,
      memoryLimitMiB: 1024,
    });
    container(workerTask, 'worker', workerLogs, { stopTimeout: STOPPING.worker.stopTimeout });
    this.worker = new ecs.FargateService(this, 'Worker', {
      cluster: this.cluster,
      taskDefinition: workerTask,
      // No DesiredCount in the template: scaling owns it, and a deployment must not reset it.
      // ECS starts a new service with one task; registering the scalable target lifts it to min.
      desiredCount: undefined,
      vpcSubnets: taskSubnets,
      securityGroups: [controlPlane],
      assignPublicIp: false,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });
    this.scaleWorkersOnBacklog(props.workerCapacity);

    // One-off migration: `aws ecs run-task` with the outputs below.
    this.migrateTask = taskDefinition('MigrateTask', names.migrateFamily, {
      taskRole: taskRole(this, 'MigrateTaskRole', {
        prefix: this.prefix,
        what: 'control-plane migration',
        managedPolicyArns: [p.migratePolicyArn],
      }),
      logGroup: migrateLogs,
      secrets: [props.database.secret],
      cpu: 256,
      memoryLimitMiB: 512,
    });
    container(this.migrateTask, 'migrate', migrateLogs);

    const output = (key: string, value: string, description: string) =>
      new CfnOutput(this, key, { value, description });
    output(
      'ApiUrl',
      `${https ? 'https' : 'http'}://${this.loadBalancer.loadBalancerDnsName}`,
      https
        ? "the API through the load balancer (point a DNS name of the certificate's at it)"
        : 'the API through the load balancer, plain HTTP: for trying it out only',
    );
    output('ClusterName', this.cluster.clusterName, 'ECS cluster of the API, the worker and the migration');
    output('ApiServiceName', this.api.serviceName, 'ECS service of the control-plane API');
    output('WorkerServiceName', this.worker.serviceName, 'ECS service of the provisioning worker');
    output(
      'MigrateTaskDefinitionArn',
      this.migrateTask.taskDefinitionArn,
      "aws ecs run-task --task-definition: applies the control-plane migrations, sets up the data plane's login and exits",
    );
    const taskSubnetIds = Fn.join(',', [...props.network.taskSubnetIds]);
    output('TaskSubnetIds', taskSubnetIds, 'subnets of the tasks (run-task awsvpcConfiguration subnets)');
    output(
      'TaskSecurityGroupIds',
      controlPlane.securityGroupId,
      'security groups of the worker and the migration (run-task awsvpcConfiguration securityGroups)',
    );
    output(
      'MigrateNetworkConfiguration',
      `awsvpcConfiguration={subnets=[${taskSubnetIds}],securityGroups=[${controlPlane.securityGroupId}],assignPublicIp=DISABLED}`,
      'aws ecs run-task --network-configuration for the migration',
    );
    output('ApiLogGroupName', apiLogs.logGroupName, 'logs of the API');
    output('WorkerLogGroupName', workerLogs.logGroupName, 'logs of the worker');
    output('MigrateLogGroupName', migrateLogs.logGroupName, 'logs of the migration');

    const acknowledge = (id: string, why: string) => Annotations.of(this).acknowledgeWarning(id, why);
    acknowledge(
      '@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
      'subnets are given by id, never taken from the VPC',
    );
    acknowledge('@aws-cdk/aws-ec2:noSubnetRouteTableId', 'nothing here reads the route tables');
    acknowledge(
      '@aws-cdk/aws-ecs:ecrImageRequiresPolicy',
      'the execution roles allow pulling from the repository (PullSiloImage)',
    );
  }

  /**
   * Between min and max tasks, on `ProvisioningQueueBacklog`: jobs ready to run that no worker has
   * taken. Each worker takes up to WORKER_CONCURRENCY jobs at once, so a backlog above zero means
   * every worker is full. Step scaling acts on that absolute number; target tracking would need a
   * value per task to hold steady, and the backlog is zero whenever the workers keep up, however
   * many there are (a target of 0 never settles, one above 0 makes jobs wait on purpose).
   * Every replica publishes the same queue-wide value once a minute: Maximum over one minute.
   */
  private scaleWorkersOnBacklog(capacity: { min: number; max: number }): void {
    const scaling = this.worker.autoScaleTaskCount({ minCapacity: capacity.min, maxCapacity: capacity.max });
    // No unit on the alarm's metric: CloudWatch matches an alarm with a unit only to data
    // published with that same unit.
    const backlog = new cloudwatch.Metric({
      namespace: QUEUE_DEPTH_METRIC.namespace,
      metricName: QUEUE_DEPTH_METRIC.backlog,
      dimensionsMap: { [QUEUE_DEPTH_METRIC.dimension]: this.prefix },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.seconds(QUEUE_METRICS_INTERVAL_SECONDS),
    });
    // Out quickly: two minutes with a backlog, more tasks the longer the queue.
    scaling.scaleOnMetric('ScaleOutOnBacklog', {
      metric: backlog,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: 1, change: 0 },
        { lower: 1, change: +1 },
        { lower: 10, change: +2 },
        { lower: 50, change: +4 },
      ],
      evaluationPeriods: 2,
      cooldown: Duration.minutes(2),
    });
    // In gently: a quarter of an hour without a backlog, then one task at a time, ten minutes
    // apart. A stopped worker finishes its jobs in hand first (SHUTDOWN_GRACE_MS); a job cut off
    // is resumed elsewhere, safe but wasted work.
    scaling.scaleOnMetric('ScaleInWhenNoBacklog', {
      metric: backlog,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      // The lower alarm fires at "<= upper": a backlog of exactly 0.
      scalingSteps: [
        { upper: 0, change: -1 },
        { lower: 0, change: 0 },
      ],
      evaluationPeriods: 15,
      cooldown: Duration.minutes(10),
    });
  }

  private secret(id: string, reference: SecretReference): ecs.Secret {
    const secret = secretsmanager.Secret.fromSecretCompleteArn(this, id, reference.arn);
    return ecs.Secret.fromSecretsManager(secret, reference.field);
  }
}

function definedOnly(environment: Environment): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

/**
 * The container's environment must pass Silo's own configuration schema, with the secrets ECS
 * injects, or the process would refuse to start after deployment: fail synthesis instead.
 */
function assertValidConfiguration(
  container: string,
  environment: Environment,
  secrets: string[],
  regionSettings: string | undefined,
): void {
  const withSecrets = {
    ...definedOnly(environment),
    ...Object.fromEntries(secrets.map((name) => [name, 'from-secrets-manager'])),
  };
  // The settings file the container writes at start, checked by the same rules here.
  const dir = regionSettings ? mkdtempSync(join(tmpdir(), 'silo-region-settings-')) : undefined;
  if (dir && regionSettings) {
    withSecrets.SILO_REGION_SETTINGS_FILE = join(dir, 'region-settings.json');
    writeFileSync(withSecrets.SILO_REGION_SETTINGS_FILE, regionSettings);
  }
  let parsed: ReturnType<typeof environmentSchema.safeParse>;
  try {
    parsed = environmentSchema.safeParse(withSecrets);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(
      `the ${container} container's environment would not pass Silo's configuration: ${problems.join('; ')}`,
    );
  }
}
