import { environmentSchema, type EnvironmentVariable } from '../../libs/config/src/config.schema';

/**
 * CloudFormation output keys must be alphanumeric, so the output for a configuration variable is
 * its name in PascalCase: `KMS_KEY_ID` → `KmsKeyId`. {@link variableForOutputKey} inverts it.
 */
export function outputKeyFor(variable: EnvironmentVariable): string {
  return variable
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/** `KmsKeyId` → `KMS_KEY_ID`; undefined when that is not a variable the configuration reads. */
export function variableForOutputKey(key: string): EnvironmentVariable | undefined {
  const variable = key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
  return isEnvironmentVariable(variable) ? variable : undefined;
}

function isEnvironmentVariable(name: string): name is EnvironmentVariable {
  return Object.prototype.hasOwnProperty.call(environmentSchema.shape, name);
}

/**
 * Outputs that are not configuration: what a platform team attaches to its compute (security
 * groups, policies) and where the passwords live that URLs in outputs leave out.
 */
export const DEPLOYMENT_OUTPUT_KEYS = [
  'DataPlaneSecurityGroupId',
  'ControlPlaneSecurityGroupId',
  'ProvisioningWorkerPolicyArn',
  'ControlPlaneApiPolicyArn',
  'DataPlanePolicyArn',
  'ControlPlaneMigratePolicyArn',
  'DataPlaneSecretArn',
  'DatabaseSecretArn',
  'RedisAuthTokenSecretArn',
  // Another region's stack: its region and its entry of SILO_REGION_SETTINGS_FILE.
  'TenantRegion',
  'RegionSettingsEntry',
] as const;
export type DeploymentOutputKey = (typeof DEPLOYMENT_OUTPUT_KEYS)[number];

/** Where the password of a URL-valued output is kept, and where it goes in the URL. */
const PASSWORD_SECRET_FOR: Partial<
  Record<EnvironmentVariable, { secret: DeploymentOutputKey; how: string }>
> = {
  DATABASE_URL: {
    secret: 'DatabaseSecretArn',
    how: 'its "password" field as postgresql://silo_admin:<password>@…',
  },
  REDIS_URL: { secret: 'RedisAuthTokenSecretArn', how: 'its value as rediss://:<token>@…' },
};

/**
 * `.env` lines from one stack's outputs (the `cdk deploy --outputs-file` shape). Outputs that
 * are not configuration become comments; URLs whose password lives in a secret get a comment
 * saying which secret and field to splice in.
 */
export function envLinesFromOutputs(outputs: Readonly<Record<string, string>>): string[] {
  const lines: string[] = [];
  const notes: string[] = [];
  for (const [key, value] of Object.entries(outputs).sort(([a], [b]) => a.localeCompare(b))) {
    const variable = variableForOutputKey(key);
    if (!variable) {
      notes.push(`# ${key}: ${value}`);
      continue;
    }
    const password = PASSWORD_SECRET_FOR[variable];
    const secretArn = password ? outputs[password.secret] : undefined;
    if (password && secretArn) {
      lines.push(`# ${variable} leaves the password out: add secret ${secretArn}, ${password.how}`);
    }
    lines.push(`${variable}=${value}`);
  }
  return [...lines, ...notes];
}

/** Every stack's outputs in either file a deployment leaves (see {@link outputsOfStack}). */
export function outputsByStack(file: unknown): Map<string, Record<string, string>> {
  const byStack = new Map<string, Record<string, string>>();
  const described = (file as { Stacks?: unknown } | null)?.Stacks;
  if (Array.isArray(described)) {
    for (const stack of described as {
      StackName: string;
      Outputs?: { OutputKey: string; OutputValue: string }[];
    }[]) {
      byStack.set(
        stack.StackName,
        Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue])),
      );
    }
  } else if (file && typeof file === 'object') {
    for (const [name, outputs] of Object.entries(file as Record<string, Record<string, string>>)) {
      byStack.set(name, outputs);
    }
  }
  return byStack;
}

/** Whether a stack's outputs are another region's prerequisites (it outputs a settings entry). */
const isRegionStack = (outputs: Record<string, string>) => 'RegionSettingsEntry' in outputs;

/**
 * One stack's outputs from either file a deployment leaves: `cdk deploy --outputs-file`
 * (`{"<stack>": {"<OutputKey>": "value"}}`) or `aws cloudformation describe-stacks`
 * (`{"Stacks": [{"StackName", "Outputs": [{"OutputKey", "OutputValue"}]}]}`). Without a name,
 * the file's one stack, other regions' prerequisites stacks left aside (`cdk deploy --all`
 * writes them beside the home region's).
 */
export function outputsOfStack(file: unknown, stackName?: string): Record<string, string> {
  const byStack = outputsByStack(file);
  const names = stackName
    ? [stackName]
    : [...byStack.keys()].filter((name) => !isRegionStack(byStack.get(name) ?? {}));
  const outputs = names.length === 1 ? byStack.get(names[0]) : undefined;
  if (!outputs) {
    throw new Error(`name one stack of: ${[...byStack.keys()].join(', ') || '(none in the file)'}`);
  }
  return outputs;
}

/** Another region's prerequisites, from its stack's outputs. */
export interface RegionStackOutputs {
  stackName: string;
  region: string;
  /** Its SILO_REGION_SETTINGS_FILE entry. */
  settings: Record<string, unknown>;
  workerPolicyArn: string;
  apiPolicyArn: string;
  dataPlanePolicyArn: string;
}

/** Every other region's prerequisites stack in an outputs file, in the file's order. */
export function regionStacksOfOutputs(file: unknown): RegionStackOutputs[] {
  const found: RegionStackOutputs[] = [];
  for (const [stackName, outputs] of outputsByStack(file)) {
    if (!isRegionStack(outputs)) continue;
    const required = (key: DeploymentOutputKey) => {
      const value = outputs[key];
      if (!value) throw new Error(`stack ${stackName} has RegionSettingsEntry but no output ${key}`);
      return value;
    };
    let settings: unknown;
    try {
      settings = JSON.parse(required('RegionSettingsEntry'));
    } catch (error) {
      throw new Error(
        `stack ${stackName}: RegionSettingsEntry is not JSON (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    if (!settings || typeof settings !== 'object' || Array.isArray(settings)) {
      throw new Error(`stack ${stackName}: RegionSettingsEntry must be an object`);
    }
    found.push({
      stackName,
      region: required('TenantRegion'),
      settings: settings as Record<string, unknown>,
      workerPolicyArn: required('ProvisioningWorkerPolicyArn'),
      apiPolicyArn: required('ControlPlaneApiPolicyArn'),
      dataPlanePolicyArn: required('DataPlanePolicyArn'),
    });
  }
  const regions = found.map((stack) => stack.region);
  const twice = regions.find((region, i) => regions.indexOf(region) !== i);
  if (twice) throw new Error(`two stacks in the file serve ${twice}`);
  return found;
}

/** SILO_REGION_SETTINGS_FILE's content for the other regions' stacks in an outputs file. */
export function regionSettingsFromOutputs(file: unknown): Record<string, Record<string, unknown>> {
  return Object.fromEntries(regionStacksOfOutputs(file).map((stack) => [stack.region, stack.settings]));
}
