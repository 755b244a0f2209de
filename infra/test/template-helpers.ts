import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SiloPrerequisitesStack, type SiloPrerequisitesProps } from '../lib/silo-prerequisites.stack';

export interface Synthesized {
  stack: SiloPrerequisitesStack;
  template: Template;
  json: TemplateJson;
}

export interface TemplateJson {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string }>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
}

/**
 * One synthesis (call it once per test file). CDK's built-in CloudFormation validation is left
 * to `npm run infra:synth`, which fails on any finding; here it would only add seconds.
 */
export function synth(props: SiloPrerequisitesProps = {}): Synthesized {
  const app = new App({ builtinCloudFormationValidation: false });
  const stack = new SiloPrerequisitesStack(app, 'Test', props);
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as TemplateJson };
}

/** A CloudFormation value as text: Fn::Join flattened, Ref → ${Name}, GetAtt → ${Name.Attr}. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if ('Fn::Join' in v) {
      const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    if ('Ref' in v) return `\${${String(v.Ref)}}`;
    if ('Fn::GetAtt' in v) return `\${${(v['Fn::GetAtt'] as string[]).join('.')}}`;
  }
  return JSON.stringify(value) ?? '';
}

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export type PolicyKind = 'identity' | 'key' | 'resource';

export interface FoundPolicy {
  /** Logical id, and the managed policy's name when it has one. */
  where: string;
  name?: string;
  kind: PolicyKind;
  statements: Statement[];
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

export const actionsOf = (statement: Statement): string[] => asArray(statement.Action);
export const resourcesOf = (statement: Statement): string[] => asArray(statement.Resource).map(render);

/** Every policy document in the template: identity policies, key policies, resource policies. */
export function policiesIn(json: TemplateJson): FoundPolicy[] {
  const found: FoundPolicy[] = [];
  const add = (where: string, kind: PolicyKind, document: unknown, name?: unknown) => {
    const statements = asArray((document as { Statement?: Statement | Statement[] } | undefined)?.Statement);
    found.push({ where, kind, statements, name: name === undefined ? undefined : render(name) });
  };
  for (const [id, resource] of Object.entries(json.Resources)) {
    const p = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::IAM::ManagedPolicy':
        add(id, 'identity', p.PolicyDocument, p.ManagedPolicyName);
        break;
      case 'AWS::IAM::Policy':
        add(id, 'identity', p.PolicyDocument, p.PolicyName);
        break;
      case 'AWS::IAM::Role':
        for (const inline of asArray(p.Policies as { PolicyDocument: unknown }[] | undefined)) {
          add(id, 'identity', inline.PolicyDocument);
        }
        break;
      case 'AWS::KMS::Key':
        add(id, 'key', p.KeyPolicy);
        break;
      case 'AWS::SNS::TopicPolicy':
      case 'AWS::SecretsManager::ResourcePolicy':
        add(id, 'resource', p.PolicyDocument ?? p.ResourcePolicy);
        break;
    }
  }
  return found;
}

const READ_ONLY = /^[a-z0-9-]+:(Describe|Get|List)[A-Za-z]*$/;

/**
 * Writes that have no resource type, so AWS authorizes them on "*" only, each with the condition
 * key that must then limit it.
 */
export const UNSCOPABLE_WRITES: Readonly<Record<string, string>> = {
  'cloudwatch:PutMetricData': 'cloudwatch:namespace',
};
const limitedBy = (s: Statement, key: string) =>
  Object.values(s.Condition ?? {}).some((operands) => Object.prototype.hasOwnProperty.call(operands, key));

/**
 * What least privilege forbids, as messages (empty when the template is clean):
 * - a wildcard action (`*`, `rds:*`, `secretsmanager:*`, any `service:*`) in an identity policy;
 * - NotAction or NotResource in an Allow;
 * - an action other than Describe/Get/List on Resource "*" in an identity policy, except a write
 *   in {@link UNSCOPABLE_WRITES} limited by its condition key;
 * - in resource policies (key, topic), a wildcard action for anyone but the account root, or a
 *   `*` principal without a condition. A key policy's Resource "*" means that key.
 */
export function leastPrivilegeViolations(policies: readonly FoundPolicy[]): string[] {
  const problems: string[] = [];
  for (const policy of policies) {
    for (const [index, s] of policy.statements.entries()) {
      if (s.Effect !== 'Allow') continue;
      const at = `${policy.where} statement ${s.Sid ?? index}`;
      if (s.NotAction !== undefined) problems.push(`${at}: Allow with NotAction`);
      if (s.NotResource !== undefined) problems.push(`${at}: Allow with NotResource`);
      const wildcards = actionsOf(s).filter((a) => a === '*' || /^[a-z0-9-]+:\*$/.test(a));
      if (policy.kind === 'identity') {
        for (const action of wildcards) problems.push(`${at}: allows ${action}`);
        if (resourcesOf(s).includes('*')) {
          const unlimited = (a: string) => !(a in UNSCOPABLE_WRITES && limitedBy(s, UNSCOPABLE_WRITES[a]));
          for (const action of actionsOf(s).filter((a) => !READ_ONLY.test(a) && unlimited(a))) {
            problems.push(`${at}: allows ${action} on Resource "*"`);
          }
        }
      } else {
        const principal = render(s.Principal);
        const awsPrincipal = render((s.Principal as { AWS?: unknown } | undefined)?.AWS);
        const accountRoot = awsPrincipal === 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root';
        for (const action of wildcards) {
          if (!(policy.kind === 'key' && action === 'kms:*' && accountRoot)) {
            problems.push(`${at}: allows ${action} to ${principal}`);
          }
        }
        if ((principal === '*' || awsPrincipal === '*') && !s.Condition) {
          problems.push(`${at}: allows anyone without a condition`);
        }
      }
    }
  }
  return problems;
}
