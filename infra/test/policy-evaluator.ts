import { render, type Statement } from './template-helpers';

/**
 * A small model of IAM's evaluation of identity policies, enough to ask "would this request be
 * allowed?" of the synthesized statements: an explicit Deny wins, then any Allow, else the
 * implicit deny. Actions and resources match with IAM's `*` and `?`; ARNs are compared in the
 * template's rendered form (`arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:…`).
 * Condition operators it does not know throw, so a policy that outgrows it fails loudly.
 */
export interface AwsRequest {
  action: string;
  resource: string;
  /** The request context: condition key → value (absent keys are left out). */
  context: Readonly<Record<string, string | readonly string[]>>;
}

export type Decision = 'allowed' | 'denied' | 'implicitly denied';

const asArray = <T>(value: T | readonly T[] | undefined): readonly T[] =>
  value === undefined ? [] : Array.isArray(value) ? (value as readonly T[]) : [value as T];

function wildcard(pattern: string, ignoreCase: boolean): RegExp {
  const body = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, ignoreCase ? 'i' : '');
}

type Test = (found: string, wanted: string) => boolean;
const TESTS: Record<string, Test> = {
  StringEquals: (found, wanted) => found === wanted,
  StringLike: (found, wanted) => wildcard(wanted, false).test(found),
  ArnEquals: (found, wanted) => found === wanted,
  ArnLike: (found, wanted) => wildcard(wanted, false).test(found),
  Bool: (found, wanted) => found.toLowerCase() === wanted.toLowerCase(),
};
const NEGATED: Record<string, string> = {
  StringNotEquals: 'StringEquals',
  StringNotLike: 'StringLike',
  ArnNotEquals: 'ArnEquals',
  ArnNotLike: 'ArnLike',
};

function conditionHolds(operator: string, key: string, operand: unknown, request: AwsRequest): boolean {
  const wanted = asArray(operand as string | string[]).map(render);
  const present = Object.prototype.hasOwnProperty.call(request.context, key);
  const found = asArray(request.context[key]);
  if (operator === 'Null') {
    if (wanted.length !== 1) throw new Error(`Null ${key} takes one value`);
    return wanted[0] === 'true' ? !present : present;
  }
  const set = /^(ForAllValues|ForAnyValue):(.+)$/.exec(operator);
  if (set) {
    const test = TESTS[set[2]];
    if (!test) throw new Error(`the evaluator does not know ${operator}`);
    const matches = (value: string) => wanted.some((w) => test(value, w));
    return set[1] === 'ForAllValues' ? found.every(matches) : found.some(matches);
  }
  const ifExists = operator.endsWith('IfExists');
  const base = ifExists ? operator.slice(0, -'IfExists'.length) : operator;
  if (!present) return ifExists || base in NEGATED;
  if (found.length !== 1) throw new Error(`${key} is multivalued: use ForAllValues or ForAnyValue`);
  const negated = NEGATED[base];
  const test = TESTS[negated ?? base];
  if (!test) throw new Error(`the evaluator does not know ${operator}`);
  const matched = wanted.some((w) => test(found[0], w));
  return negated ? !matched : matched;
}

/** Whether one statement applies to the request (its Effect aside). */
export function statementMatches(statement: Statement, request: AwsRequest): boolean {
  if (statement.NotAction !== undefined || statement.NotResource !== undefined) {
    throw new Error(`the evaluator does not know NotAction/NotResource (${statement.Sid ?? '?'})`);
  }
  const actions = asArray(statement.Action);
  if (!actions.some((a) => wildcard(a, true).test(request.action))) return false;
  const resources = asArray(statement.Resource).map(render);
  if (!resources.some((r) => wildcard(r, false).test(request.resource))) return false;
  return Object.entries(statement.Condition ?? {}).every(([operator, operands]) =>
    Object.entries(operands).every(([key, operand]) => conditionHolds(operator, key, operand, request)),
  );
}

export function evaluate(statements: readonly Statement[], request: AwsRequest): Decision {
  const matching = statements.filter((s) => statementMatches(s, request));
  if (matching.some((s) => s.Effect === 'Deny')) return 'denied';
  return matching.some((s) => s.Effect === 'Allow') ? 'allowed' : 'implicitly denied';
}

/** The Sids of the Allow statements that would let the request through. */
export function allowedBy(statements: readonly Statement[], request: AwsRequest): string[] {
  return statements
    .filter((s) => s.Effect === 'Allow' && statementMatches(s, request))
    .map((s) => s.Sid ?? '?');
}

/**
 * The context of a request that carries `requestTags` on a resource that carries `resourceTags`
 * (undefined: it does not exist yet, as during a create). `resourceTagKey` is the service's own
 * resource-tag key prefix besides `aws:ResourceTag` (e.g. `rds:db-tag`).
 */
export function tagContext(options: {
  requestTags?: Readonly<Record<string, string>>;
  resourceTags?: Readonly<Record<string, string>>;
  resourceTagKey?: string;
  tagKeys?: readonly string[];
  extra?: Readonly<Record<string, string | readonly string[]>>;
}): Record<string, string | readonly string[]> {
  const context: Record<string, string | readonly string[]> = { ...options.extra };
  const requestTags = options.requestTags ?? {};
  for (const [key, value] of Object.entries(requestTags)) context[`aws:RequestTag/${key}`] = value;
  const tagKeys = options.tagKeys ?? Object.keys(requestTags);
  if (tagKeys.length) context['aws:TagKeys'] = tagKeys;
  for (const [key, value] of Object.entries(options.resourceTags ?? {})) {
    context[`aws:ResourceTag/${key}`] = value;
    if (options.resourceTagKey) context[`${options.resourceTagKey}/${key}`] = value;
  }
  return context;
}
