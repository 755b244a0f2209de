export { InstancePlacement, INSTANCE_DEPROVISION_STEPS } from './instance-placement';
export type {
  PlacementLifecycle,
  PlacementLifecycles,
  PlacementStepResult,
  UndoResult,
} from './placement-lifecycle';
export { placementLifecycles } from './placement-lifecycles';
export { PoolPlacement, POOL_DEPROVISION_STEPS, POOL_PROVISION_STEPS } from './pool-placement';
export { SchemaPlacement, SCHEMA_DEPROVISION_STEPS, SCHEMA_PROVISION_STEPS } from './schema-placement';
export {
  schemaTenantConnectionLimit,
  TypeormSharedHosts,
  type SharedHosts,
  type SharedHostView,
} from './shared-hosts';
