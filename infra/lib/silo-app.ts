import { DefaultStackSynthesizer, type App, type Stack } from 'aws-cdk-lib';
import { SERVICES_ONLY_CONTEXT_KEYS, servicesFromContext } from './services-context';
import { SiloPrerequisitesStack } from './silo-prerequisites.stack';
import { SiloServicesStack } from './silo-services.stack';
import { stackFromContext } from './stack-context';

/**
 * The stack this app synthesizes, chosen by context: the services stack when `image` (or
 * `prerequisitesOutputs`) is given, else the prerequisites stack. Never both: the services are
 * deployed after the prerequisites, from their deployed outputs, and synthesizing the
 * prerequisites again from the services' context could describe a different prerequisites stack.
 */
export function addSiloStack(app: App): Stack {
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
    return new SiloServicesStack(app, stackName, { ...props, stackName, synthesizer });
  }
  const { stackName, props } = stackFromContext(get);
  return new SiloPrerequisitesStack(app, stackName, { ...props, stackName, synthesizer });
}
