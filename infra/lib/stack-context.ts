import type { SiloPrerequisitesProps } from './silo-prerequisites.stack';

/** The context keys `cdk -c key=value` (or `npm run infra:synth -- -c key=value`) accepts. */
export const CONTEXT_KEYS = [
  'prefix',
  'stackName',
  'vpcId',
  'privateSubnetIds',
  'dataPlaneSecurityGroupId',
  'controlPlaneSecurityGroupId',
  'alarmEmail',
  'controlPlaneDatabase',
  'controlPlaneRedis',
] as const;

/**
 * The stack's name and properties from CDK context. Everything is given, never looked up, so
 * synthesis needs no credentials and no network.
 */
export function stackFromContext(get: (key: string) => unknown): {
  stackName: string;
  props: SiloPrerequisitesProps;
} {
  const text = (key: string): string | undefined => {
    const value = get(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`context ${key} must be a string`);
    return value.trim();
  };
  const flag = (key: string): boolean => {
    const value = get(key);
    if (value === undefined || value === null || value === '') return false;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    throw new Error(`context ${key} must be true or false`);
  };
  const list = (key: string): string[] | undefined => {
    const value = get(key);
    if (value === undefined || value === null || value === '') return undefined;
    const items: unknown[] = Array.isArray(value)
      ? value
      : typeof value === 'string'
        ? value.split(',')
        : [value];
    return items
      .map((item) => {
        if (typeof item !== 'string') throw new Error(`context ${key} must be a comma-separated list`);
        return item.trim();
      })
      .filter(Boolean);
  };

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
      network: vpcId && privateSubnetIds ? { vpcId, privateSubnetIds } : undefined,
      dataPlaneSecurityGroupId: text('dataPlaneSecurityGroupId'),
      controlPlaneSecurityGroupId: text('controlPlaneSecurityGroupId'),
      alarmEmail: text('alarmEmail'),
      controlPlaneDatabase: flag('controlPlaneDatabase'),
      controlPlaneRedis: flag('controlPlaneRedis'),
    },
  };
}
