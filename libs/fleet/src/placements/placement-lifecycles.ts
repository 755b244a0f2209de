import type { StepDeps } from '../saga/provisioning-steps';
import type { SagaLog } from '../store/provisioning-store';
import { InstancePlacement } from './instance-placement';
import type { PlacementLifecycles } from './placement-lifecycle';
import { PoolPlacement } from './pool-placement';
import { SchemaPlacement } from './schema-placement';

/** One lifecycle per placement, over the same dependencies; the sagas pick the tenant's. */
export function placementLifecycles(
  deps: StepDeps,
  log: SagaLog,
  now: () => Date = () => new Date(),
): PlacementLifecycles {
  return {
    instance: new InstancePlacement(deps, log, now),
    schema: new SchemaPlacement(deps, log),
    pool: new PoolPlacement(deps),
  };
}
