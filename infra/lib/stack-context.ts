import { contextReader } from './context-reader';
import { SERVICES_CONTEXT_KEYS } from './services-context';
import type { SiloPrerequisitesProps } from './silo-prerequisites.stack';

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
] as const;

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
    },
  };
}
