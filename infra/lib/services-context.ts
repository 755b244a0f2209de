import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { environmentSchema, type EnvironmentVariable } from '../../libs/config/src/config.schema';
import {
  outputKeyFor,
  outputsOfStack,
  regionStacksOfOutputs,
  type DeploymentOutputKey,
  type RegionStackOutputs,
} from './config-outputs';
import { contextReader } from './context-reader';
import { IMAGE_RDS_CA_BUNDLE } from './image-reference';
import type {
  OtherRegion,
  PrerequisitesOutputs,
  SecretReference,
  SiloServicesProps,
} from './silo-services.stack';

/** The context keys of the services stack (`vpcId`, `privateSubnetIds`, `stackName` are shared). */
export const SERVICES_CONTEXT_KEYS = [
  'image',
  'prerequisitesOutputs',
  'stackName',
  'servicesStackName',
  'vpcId',
  'privateSubnetIds',
  'publicSubnetIds',
  'vpcCidr',
  'albScheme',
  'albIngressCidr',
  'certificateArn',
  'apiDesiredCount',
  'workerMin',
  'workerMax',
  'environment',
  'authJwksUrl',
  'authIssuer',
  'authAudience',
  'rdsCaFile',
  'databaseUrl',
  'databaseSecretArn',
  'databaseSecretField',
  'redisUrl',
  'redisSecretArn',
  'redisSecretField',
  'logRetentionDays',
] as const;

/** Keys only the services stack reads: any of them given means "synthesize the services stack". */
export const SERVICES_ONLY_CONTEXT_KEYS = ['image', 'prerequisitesOutputs'] as const;

const ID = {
  vpc: /^vpc-[0-9a-f]{8,17}$/,
  subnet: /^subnet-[0-9a-f]{8,17}$/,
  securityGroup: /^sg-[0-9a-f]{8,17}$/,
};
const ARN = {
  policy: /^arn:aws[a-z-]*:iam::\d{12}:policy\/[\w+=,.@/-]+$/,
  key: /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
  // A complete ARN: Secrets Manager appends "-" and six characters to the name.
  secret: /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/,
  certificate: /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/,
};
/** `name[:port]/path` ending in `:tag` or `@sha256:<digest>`; no implicit `latest`. */
const IMAGE =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\.[a-z0-9-]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$/;
const SECRET_FIELD = /^[\w.-]{1,256}$/;
const RETENTION_DAYS = new Set(
  (Object.values(RetentionDays) as unknown[]).filter(
    (days): days is number => typeof days === 'number' && days > 0,
  ),
);

function ipv4Cidr(value: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  return Boolean(m && m.slice(1, 5).every((octet) => Number(octet) <= 255) && Number(m[5]) <= 32);
}

type Check = RegExp | ((value: string) => boolean);
const passes = (check: Check, value: string) => (check instanceof RegExp ? check.test(value) : check(value));

function fail(message: string): never {
  throw new Error(message);
}

/**
 * The services stack's name and properties from CDK context and the prerequisites stack's
 * outputs file. Nothing is looked up: ids, ARNs and the image are given, so synthesis needs no
 * credentials and no network. Every error names the context key (or output) to fix.
 */
export function servicesFromContext(get: (key: string) => unknown): {
  stackName: string;
  props: SiloServicesProps;
} {
  const { text, list, integer } = contextReader(get);
  const matching = (key: string, value: string | undefined, check: Check, what: string) => {
    if (value !== undefined && !passes(check, value)) {
      fail(`context ${key} must be ${what}, got ${JSON.stringify(value)}`);
    }
    return value;
  };
  const required = (key: string, why: string): string =>
    text(key) ?? fail(`context ${key} is required: ${why}`);

  const image = matching(
    'image',
    required(
      'image',
      "the URI of Silo's image, with a tag or digest (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/silo:1.4.0)",
    ),
    IMAGE,
    'an image URI with a tag or @sha256 digest (registry/repository:tag)',
  )!;

  const { outputs, regionStacks, file } = readPrerequisitesOutputs(
    required(
      'prerequisitesOutputs',
      'the outputs file of the prerequisites stack (cdk deploy --outputs-file, or aws cloudformation describe-stacks > file)',
    ),
    text('stackName'),
  );
  const output = (key: string, check: Check, what: string): string => {
    const value =
      outputs[key] ??
      fail(`context prerequisitesOutputs: ${file} has no output ${key}; is it the prerequisites stack's?`);
    if (!passes(check, value))
      fail(
        `context prerequisitesOutputs: output ${key} in ${file} must be ${what}, got ${JSON.stringify(value)}`,
      );
    return value;
  };
  const configOutput = (variable: EnvironmentVariable, check: Check, what: string) =>
    output(outputKeyFor(variable), check, what);
  // Values the configuration schema also checks are checked by it.
  const schema =
    (variable: EnvironmentVariable): Check =>
    (value) =>
      environmentSchema.shape[variable].safeParse(value).success;

  const prerequisites: PrerequisitesOutputs = {
    region: configOutput('AWS_REGION', schema('AWS_REGION'), 'an AWS region'),
    prefix: configOutput('SILO_RESOURCE_PREFIX', schema('SILO_RESOURCE_PREFIX'), 'a SILO_RESOURCE_PREFIX'),
    // The key's ARN, not an alias or id: the execution roles' kms:Decrypt names it.
    kmsKeyArn: configOutput('KMS_KEY_ID', ARN.key, 'a KMS key ARN'),
    alarmTopicArn: configOutput('ALARM_SNS_TOPIC_ARN', schema('ALARM_SNS_TOPIC_ARN'), 'an SNS topic ARN'),
    tenantExportBucket: configOutput(
      'TENANT_EXPORT_BUCKET',
      schema('TENANT_EXPORT_BUCKET'),
      'an S3 bucket name',
    ),
    tenantExportRetentionDays: configOutput(
      'TENANT_EXPORT_RETENTION_DAYS',
      schema('TENANT_EXPORT_RETENTION_DAYS'),
      'a number of days',
    ),
    rdsSubnetGroup: configOutput('RDS_SUBNET_GROUP', schema('RDS_SUBNET_GROUP'), 'a DB subnet group name'),
    rdsSecurityGroupIds: configOutput(
      'RDS_SECURITY_GROUP_IDS',
      schema('RDS_SECURITY_GROUP_IDS'),
      'comma-separated security group ids',
    ),
    controlPlaneSecurityGroupId: output(
      'ControlPlaneSecurityGroupId',
      ID.securityGroup,
      'a security group id (sg-…)',
    ),
    workerPolicyArn: output('ProvisioningWorkerPolicyArn', ARN.policy, 'an IAM policy ARN'),
    apiPolicyArn: output('ControlPlaneApiPolicyArn', ARN.policy, 'an IAM policy ARN'),
    migratePolicyArn: output('ControlPlaneMigratePolicyArn', ARN.policy, 'an IAM policy ARN'),
  };

  // Other regions' prerequisites stacks in the same file (cdk deploy --all --outputs-file).
  const otherRegions = regionStacks.map((stack): OtherRegion => {
    const where = `context prerequisitesOutputs: stack ${stack.stackName} in ${file}`;
    if (!passes(schema('AWS_REGION'), stack.region))
      fail(`${where}: TenantRegion must be an AWS region, got ${JSON.stringify(stack.region)}`);
    if (stack.region === prerequisites.region) {
      fail(`${where} serves ${stack.region}, the home region (AwsRegion of the home stack)`);
    }
    for (const key of ['workerPolicyArn', 'apiPolicyArn'] as const) {
      if (!ARN.policy.test(stack[key]))
        fail(`${where}: its ${key} must be an IAM policy ARN, got ${JSON.stringify(stack[key])}`);
    }
    return {
      region: stack.region,
      settings: stack.settings,
      workerPolicyArn: stack.workerPolicyArn,
      apiPolicyArn: stack.apiPolicyArn,
    };
  });

  // A store either comes with the prerequisites (its URL and secret are outputs) or is the
  // team's own (context). Never both: one place per value.
  const store = (
    name: 'database' | 'redis',
    urlVariable: 'DATABASE_URL' | 'REDIS_URL',
    secretOutput: DeploymentOutputKey,
    defaultField: string | undefined,
  ): { url: string; secret: SecretReference } => {
    const urlKey = `${name}Url`;
    const secretKey = `${name}SecretArn`;
    const fieldKey = `${name}SecretField`;
    const fromOutputs = { url: outputs[outputKeyFor(urlVariable)], secret: outputs[secretOutput] };
    const fromContext = { url: text(urlKey), secret: text(secretKey) };
    if (fromOutputs.url && fromContext.url) {
      fail(`context ${urlKey}: ${file} already has ${outputKeyFor(urlVariable)}; leave ${urlKey} unset`);
    }
    if (fromOutputs.secret && fromContext.secret) {
      fail(`context ${secretKey}: ${file} already has ${secretOutput}; leave ${secretKey} unset`);
    }
    const url =
      fromOutputs.url ??
      fromContext.url ??
      fail(
        `context ${urlKey} is required: ${file} has no ${outputKeyFor(urlVariable)} (the prerequisites stack made no control-plane ${name})`,
      );
    const parsed = environmentSchema.shape[urlVariable].safeParse(url);
    if (!parsed.success)
      fail(`context ${urlKey} ${parsed.error.issues[0]?.message}, got ${JSON.stringify(url)}`);
    if (new URL(url).password) {
      fail(`context ${urlKey} must not carry a password: it comes from the secret (${secretKey})`);
    }
    const arn = fromOutputs.secret ?? fromContext.secret;
    if (!arn) {
      fail(
        `context ${secretKey} is required: ${file} has no ${secretOutput}, and the services read the ${name} password from Secrets Manager only`,
      );
    }
    if (!ARN.secret.test(arn)) {
      fail(
        `${fromOutputs.secret ? `output ${secretOutput} in ${file}` : `context ${secretKey}`} must be a complete Secrets Manager secret ARN (ending in -XXXXXX), got ${JSON.stringify(arn)}`,
      );
    }
    const field = matching(fieldKey, text(fieldKey), SECRET_FIELD, 'a JSON field name') ?? defaultField;
    return { url, secret: { arn, field } };
  };
  const database = store('database', 'DATABASE_URL', 'DatabaseSecretArn', 'password');
  const redis = store('redis', 'REDIS_URL', 'RedisAuthTokenSecretArn', undefined);

  const vpcId = matching(
    'vpcId',
    required('vpcId', 'the VPC the services run in'),
    ID.vpc,
    'a VPC id (vpc-…)',
  )!;
  const subnets = (key: string, ids: string[] | undefined, purpose: string): string[] => {
    if (!ids) fail(`context ${key} is required: ${purpose}`);
    for (const id of ids) matching(key, id, ID.subnet, 'comma-separated subnet ids (subnet-…)');
    if (new Set(ids).size !== ids.length) fail(`context ${key} lists a subnet twice`);
    if (ids.length < 2) fail(`context ${key}: give subnets in at least two availability zones (${purpose})`);
    return ids;
  };
  const taskSubnetIds = subnets(
    'privateSubnetIds',
    list('privateSubnetIds'),
    'private subnets for the tasks',
  );

  const scheme = text('albScheme') ?? 'internal';
  if (scheme !== 'internal' && scheme !== 'internet-facing') {
    fail(`context albScheme must be internal or internet-facing, got ${JSON.stringify(scheme)}`);
  }
  const internetFacing = scheme === 'internet-facing';
  const loadBalancerSubnetIds = internetFacing
    ? subnets(
        'publicSubnetIds',
        list('publicSubnetIds'),
        'public subnets for an internet-facing load balancer',
      )
    : list('publicSubnetIds')
      ? subnets('publicSubnetIds', list('publicSubnetIds'), 'subnets for the load balancer')
      : taskSubnetIds;
  const vpcCidr = matching('vpcCidr', text('vpcCidr'), ipv4Cidr, 'an IPv4 CIDR (10.0.0.0/16)');
  const ingressCidr =
    matching('albIngressCidr', text('albIngressCidr'), ipv4Cidr, 'an IPv4 CIDR') ??
    (internetFacing
      ? fail(
          'context albIngressCidr is required for an internet-facing load balancer: say who may reach the API (0.0.0.0/0 for anyone)',
        )
      : (vpcCidr ??
        fail(
          "context albIngressCidr (or vpcCidr) is required: the load balancer admits that range, by default the VPC's CIDR, which is not looked up",
        )));
  const certificateArn = matching(
    'certificateArn',
    text('certificateArn'),
    ARN.certificate,
    'an ACM certificate ARN',
  );

  const count = (key: string, fallback: number, min: number, max: number): number => {
    const value = integer(key) ?? fallback;
    if (value < min || value > max) fail(`context ${key} must be between ${min} and ${max}, got ${value}`);
    return value;
  };
  const apiDesiredCount = count('apiDesiredCount', 2, 1, 100);
  // Every worker replica publishes the queue-depth metric; with none running there is no metric
  // to scale out on, so at least one always runs.
  const workerMin = integer('workerMin') ?? 1;
  if (workerMin < 1)
    fail(
      `context workerMin must be at least 1 (the workers publish the metric they scale on), got ${workerMin}`,
    );
  const workerMax = count('workerMax', Math.max(4, workerMin), 1, 100);
  if (workerMin > workerMax)
    fail(`context workerMin (${workerMin}) must not be above workerMax (${workerMax})`);

  // The worker's policy allows tags of the prerequisites' environment only (their output, when
  // the file has it): a different SILO_ENVIRONMENT here would be refused by IAM at every create.
  const deployedEnvironment = outputs[outputKeyFor('SILO_ENVIRONMENT')];
  const siloEnvironment = text('environment') ?? deployedEnvironment ?? 'production';
  const environmentCheck = environmentSchema.shape.SILO_ENVIRONMENT.safeParse(siloEnvironment);
  if (!environmentCheck.success)
    fail(`context environment (SILO_ENVIRONMENT) ${environmentCheck.error.issues[0]?.message}`);
  if (deployedEnvironment !== undefined && deployedEnvironment !== siloEnvironment)
    fail(
      `context environment (SILO_ENVIRONMENT) is ${JSON.stringify(siloEnvironment)}, but ${file} has SiloEnvironment ${JSON.stringify(deployedEnvironment)}: the worker's policy allows that environment's tags only; leave environment unset, or deploy the prerequisites with -c environment=${siloEnvironment}`,
    );

  const jwksUrl = required(
    'authJwksUrl',
    'the API verifies bearer tokens against this JWKS (AUTH_JWKS_URL); AUTH_JWT_SECRET is for development only',
  );
  if (!/^https:\/\/[^/]/.test(jwksUrl))
    fail(`context authJwksUrl must be an https:// URL, got ${JSON.stringify(jwksUrl)}`);

  // Silo's image carries RDS's CA bundle; an image of your own may keep one elsewhere.
  const rdsCaFile = text('rdsCaFile') ?? IMAGE_RDS_CA_BUNDLE;
  if (!rdsCaFile.startsWith('/'))
    fail(`context rdsCaFile must be an absolute path inside the image, got ${JSON.stringify(rdsCaFile)}`);

  const retentionDays = integer('logRetentionDays') ?? 30;
  if (!RETENTION_DAYS.has(retentionDays)) {
    fail(
      `context logRetentionDays must be one of ${[...RETENTION_DAYS].sort((a, b) => a - b).join(', ')}, got ${retentionDays}`,
    );
  }

  return {
    stackName: text('servicesStackName') ?? `${prerequisites.prefix}-services`,
    props: {
      prerequisites,
      otherRegions,
      image,
      network: { vpcId, taskSubnetIds, loadBalancerSubnetIds },
      loadBalancer: { internetFacing, ingressCidr, certificateArn },
      database,
      redis,
      auth: { jwksUrl, issuer: text('authIssuer'), audience: text('authAudience') },
      siloEnvironment,
      rdsCaFile,
      apiDesiredCount,
      workerCapacity: { min: workerMin, max: workerMax },
      logRetention: retentionDays,
    },
  };
}

function readPrerequisitesOutputs(
  file: string,
  stackName: string | undefined,
): { outputs: Record<string, string>; regionStacks: RegionStackOutputs[]; file: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(resolve(file), 'utf8'));
  } catch (error) {
    fail(
      `context prerequisitesOutputs: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  try {
    return { outputs: outputsOfStack(parsed, stackName), regionStacks: regionStacksOfOutputs(parsed), file };
  } catch (error) {
    fail(
      `context prerequisitesOutputs: ${file}: ${error instanceof Error ? error.message : String(error)} (context stackName picks one)`,
    );
  }
}
