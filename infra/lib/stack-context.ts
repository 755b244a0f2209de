import { AWS_REGION_PATTERN } from '../../libs/config/src/region-settings';
import { contextReader } from './context-reader';
import { SERVICES_CONTEXT_KEYS } from './services-context';
import type { SiloPrerequisitesProps } from './silo-prerequisites.stack';
import type { SiloRegionPrerequisitesProps } from './silo-region-prerequisites.stack';

/** The context keys of the prerequisites stack. */
export const PREREQUISITES_CONTEXT_KEYS = [
  'prefix',
  'environment',
  'stackName',
  'vpcId',
  'privateSubnetIds',
  'dataPlaneSecurityGroupId',
  'controlPlaneSecurityGroupId',
  'alarmEmail',
  'controlPlaneDatabase',
  'controlPlaneRedis',
  'postgresClientCidrs',
  'regions',
] as const;

/**
 * Keys another region's stack takes as `<region>:<key>` (`-c eu-central-1:vpcId=vpc-…`); the
 * home region's are the plain keys. `alarmEmail` unprefixed applies to every region's topic.
 */
export const REGIONAL_CONTEXT_KEYS = [
  'vpcId',
  'privateSubnetIds',
  'dataPlaneSecurityGroupId',
  'postgresClientCidrs',
  'alarmEmail',
] as const;

/** `eu-central-1:vpcId` → its region and key; undefined for any other key. */
export function regionalContextKey(key: string): { region: string; key: string } | undefined {
  const at = key.indexOf(':');
  const region = key.slice(0, at);
  const name = key.slice(at + 1);
  return at > 0 &&
    AWS_REGION_PATTERN.test(region) &&
    (REGIONAL_CONTEXT_KEYS as readonly string[]).includes(name)
    ? { region, key: name }
    : undefined;
}

/** Every context key `cdk -c key=value` (or `npm run infra:synth -- -c key=value`) accepts. */
export const CONTEXT_KEYS: readonly string[] = [
  ...new Set<string>([...PREREQUISITES_CONTEXT_KEYS, ...SERVICES_CONTEXT_KEYS]),
];

/**
 * The stack's name and properties from CDK context. Everything is given, never looked up, so
 * synthesis needs no credentials and no network.
 */
export function stackFromContext(get: (key: string) => unknown): {
  stackName: string;
  props: SiloPrerequisitesProps;
} {
  const { text, flag, list } = contextReader(get);

  const prefix = text('prefix') ?? 'silo';
  const vpcId = text('vpcId');
  const privateSubnetIds = list('privateSubnetIds');
  if (Boolean(vpcId) !== Boolean(privateSubnetIds)) {
    throw new Error('context vpcId and privateSubnetIds go together: give both, or neither for a new VPC');
  }
  const postgresClientCidrs = list('postgresClientCidrs');
  return {
    stackName: text('stackName') ?? `${prefix}-prerequisites`,
    props: {
      resourcePrefix: prefix,
      siloEnvironment: text('environment'),
      network: vpcId && privateSubnetIds ? { vpcId, privateSubnetIds } : undefined,
      dataPlaneSecurityGroupId: text('dataPlaneSecurityGroupId'),
      controlPlaneSecurityGroupId: text('controlPlaneSecurityGroupId'),
      alarmEmail: text('alarmEmail'),
      controlPlaneDatabase: flag('controlPlaneDatabase'),
      controlPlaneRedis: flag('controlPlaneRedis'),
      ...(postgresClientCidrs ? { postgresClientCidrs } : {}),
    },
  };
}

/**
 * `regions` (comma-separated, the home region first: the control plane's) and each other
 * region's stack from its `<region>:<key>` context. Without `regions`: no home region named, no
 * other stacks, the home stack environment-agnostic as it always was. `keys` is every context key
 * given, so that a key of a region not listed is refused rather than ignored.
 */
export function regionStacksFromContext(
  get: (key: string) => unknown,
  keys: readonly string[],
): {
  homeRegion?: string;
  stacks: { stackName: string; region: string; props: SiloRegionPrerequisitesProps }[];
} {
  const { text, list } = contextReader(get);
  const regions = list('regions');
  const given = keys.map(regionalContextKey).filter((k) => k !== undefined);
  if (!regions) {
    if (given.length) {
      throw new Error(
        `context ${given[0].region}:${given[0].key}: list the regions first (-c regions=<home>,${given[0].region})`,
      );
    }
    return { stacks: [] };
  }
  for (const region of regions) {
    if (!AWS_REGION_PATTERN.test(region)) {
      throw new Error(`context regions: ${JSON.stringify(region)} is not an AWS region such as eu-west-1`);
    }
  }
  if (new Set(regions).size !== regions.length) throw new Error('context regions names a region twice');
  const [homeRegion, ...others] = regions;
  for (const { region, key } of given) {
    if (region === homeRegion) {
      throw new Error(
        `context ${region}:${key}: ${region} is the home region, whose settings are the plain keys (-c ${key}=…)`,
      );
    }
    if (!others.includes(region)) {
      throw new Error(`context ${region}:${key}: ${region} is not in regions (${regions.join(', ')})`);
    }
  }
  const home = stackFromContext(get);
  const stacks = others.map((region) => {
    const key = (name: (typeof REGIONAL_CONTEXT_KEYS)[number]) => `${region}:${name}`;
    const vpcId = text(key('vpcId'));
    const privateSubnetIds = list(key('privateSubnetIds'));
    if (Boolean(vpcId) !== Boolean(privateSubnetIds)) {
      throw new Error(
        `context ${key('vpcId')} and ${key('privateSubnetIds')} go together: give both, or neither for a new VPC`,
      );
    }
    const postgresClientCidrs = list(key('postgresClientCidrs'));
    if (!postgresClientCidrs) {
      throw new Error(
        `context ${key('postgresClientCidrs')} is required: the CIDRs of ${homeRegion}'s worker subnets (and other regions' tenant subnets, for moves), which reach ${region}'s tenant instances over VPC peering or a Transit Gateway`,
      );
    }
    return {
      stackName: `${home.stackName}-${region}`,
      region,
      props: {
        region,
        resourcePrefix: home.props.resourcePrefix,
        siloEnvironment: home.props.siloEnvironment,
        network: vpcId && privateSubnetIds ? { vpcId, privateSubnetIds } : undefined,
        dataPlaneSecurityGroupId: text(key('dataPlaneSecurityGroupId')),
        postgresClientCidrs,
        alarmEmail: text(key('alarmEmail')) ?? home.props.alarmEmail,
      },
    };
  });
  return { homeRegion, stacks };
}
