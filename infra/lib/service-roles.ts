import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ecrImageOf } from './image-reference';
import type { PrerequisitesOutputs, SecretReference } from './silo-services.stack';

// The services stack's IAM roles: what each task may do, and what ECS may do to start it.

/**
 * A task role with exactly the managed policies from the prerequisites (the home region's, then
 * each other region's), nothing inline. The trust policy admits ECS tasks of this account and
 * region only.
 */
export function taskRole(
  scope: Construct,
  id: string,
  who: { prefix: string; what: string; managedPolicyArns: readonly string[] },
): iam.IRole {
  return new iam.Role(scope, id, {
    description: `Silo ${who.what} (${who.prefix}): task role`,
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com').withConditions({
      ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
      StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
    }),
    managedPolicies: who.managedPolicyArns.map((arn, i) =>
      iam.ManagedPolicy.fromManagedPolicyArn(scope, i === 0 ? `${id}Policy` : `${id}Policy${i}`, arn),
    ),
  }).withoutPolicyUpdates();
}

/**
 * What ECS itself needs to start one task definition's tasks: pull the image, write to its log
 * group, read the secrets it names. Written out here; the role ignores the grants CDK would add
 * (the whole repository's pull rights, DescribeSecret) so that it holds exactly these.
 */
export function executionRole(
  scope: Construct,
  id: string,
  task: {
    prefix: string;
    image: string;
    prerequisites: Pick<PrerequisitesOutputs, 'kmsKeyArn' | 'region'>;
    logGroup: logs.ILogGroup;
    secrets: readonly SecretReference[];
  },
): iam.IRole {
  const statements: iam.PolicyStatement[] = [];
  const ecr = ecrImageOf(task.image);
  if (ecr) {
    statements.push(
      // GetAuthorizationToken has no resource type: AWS authorizes it on "*" only.
      new iam.PolicyStatement({
        sid: 'AuthenticateToEcr',
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'PullSiloImage',
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: [`arn:${Aws.PARTITION}:ecr:${ecr.region}:${ecr.account}:repository/${ecr.repositoryName}`],
      }),
    );
  }
  const arns = [...new Set(task.secrets.map((s) => s.arn))];
  statements.push(
    new iam.PolicyStatement({
      sid: 'WriteTaskLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [task.logGroup.logGroupArn],
    }),
    new iam.PolicyStatement({
      sid: 'ReadTaskSecrets',
      actions: ['secretsmanager:GetSecretValue'],
      resources: arns,
    }),
    // The prerequisites' secrets are encrypted under the tenant key: decrypt through Secrets
    // Manager, for these secrets only.
    new iam.PolicyStatement({
      sid: 'DecryptTaskSecrets',
      actions: ['kms:Decrypt'],
      resources: [task.prerequisites.kmsKeyArn],
      conditions: {
        StringEquals: {
          'kms:ViaService': `secretsmanager.${task.prerequisites.region}.${Aws.URL_SUFFIX}`,
          'kms:EncryptionContext:SecretARN': arns,
        },
      },
    }),
  );
  return new iam.Role(scope, id, {
    description: `Silo (${task.prefix}): ECS task execution role of ${id.replace(/Execution$/, '')}`,
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    inlinePolicies: { execution: new iam.PolicyDocument({ statements }) },
  }).withoutPolicyUpdates();
}
