import { DefaultStackSynthesizer, type App, type Stack } from 'aws-cdk-lib';
import { SERVICES_ONLY_CONTEXT_KEYS, servicesFromContext } from './services-context';
import { SiloPrerequisitesStack } from './silo-prerequisites.stack';
import { SiloServicesStack } from './silo-services.stack';
import { SiloRegionPrerequisitesStack } from './silo-region-prerequisites.stack';
import { regionStacksFromContext, stackFromContext } from './stack-context';

/**
 * The stacks this app synthesizes, chosen by context: the services stack when `image` (or
 * `prerequisitesOutputs`) is given, else the prerequisites: the home region's stack, and with
 * `regions` one more per other region, each in its own region. Never both: the services are
 * deployed after the prerequisites, from their deployed outputs, and synthesizing the
 * prerequisites again from the services' context could describe a different prerequisites stack.
 */
export function addSiloStacks(app: App): Stack[] {
  const get = (key: string): unknown => app.node.tryGetContext(key);
  // No bootstrap-version parameter: a template in cdk.out also deploys as plain CloudFormation
  // (aws cloudformation deploy). `cdk deploy` still uses the bootstrapped deployment roles.
  const synthesizer = new DefaultStackSynthesizer({ generateBootstrapVersionRule: false });
  const given = (key: string) => {
    const value = get(key);
    return value !== undefined && value !== null && value !== '';
  };
  const servicesRequested = SERVICES_ONLY_CONTEXT_KEYS.some(given);
  if (servicesRequested) {
    const { stackName, props } = servicesFromContext(get);
    return [new SiloServicesStack(app, stackName, { ...props, stackName, synthesizer })];
  }
  const { stackName, props } = stackFromContext(get);
  const givenKeys = Object.keys(app.node.getAllContext() as Record<string, unknown>);
  const regional = regionStacksFromContext(get, givenKeys);
  // One stack per region, the usual CDK way: with regions, each stack's env names its own. The
  // home stack keeps its name and its logical ids, so a deployment made before regions keeps
  // its key and bucket.
  const home = new SiloPrerequisitesStack(app, stackName, {
    ...props,
    stackName,
    synthesizer,
    ...(regional.homeRegion ? { env: { region: regional.homeRegion } } : {}),
  });
  return [
    home,
    ...regional.stacks.map(
      (stack) =>
        new SiloRegionPrerequisitesStack(app, stack.stackName, {
          ...stack.props,
          stackName: stack.stackName,
          synthesizer,
          tenantExportRetentionDays: props.tenantExportRetentionDays,
        }),
    ),
  ];
}
