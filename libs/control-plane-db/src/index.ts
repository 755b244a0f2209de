export { controlPlaneDataSourceOptions, type ControlPlaneDbOptions } from './control-plane-data-source';
export { ControlPlaneDbModule } from './control-plane-db.module';
export { CONTROL_PLANE_ENTITIES, CONTROL_PLANE_MIGRATIONS } from './control-plane-entities';
export {
  ensureDatabase,
  migrateControlPlane,
  pinDefaultRegion,
  type MigrateOptions,
  type MigrateResult,
} from './control-plane-migrator';
export {
  applyDataPlaneLogin,
  DATA_PLANE_CONNECTION_LIMIT,
  ensureDataPlaneLogin,
  type DataPlaneLoginOptions,
  type DataPlaneLoginResult,
  type DataPlaneSecretStore,
} from './data-plane-login';
export {
  HOST_STATUSES,
  HostEntity,
  PLACEABLE_HOST_STATUSES,
  type HostFailure,
  type HostStatus,
} from './entities/host.entity';
export {
  HOST_ROTATION_STATUSES,
  HostRotationEntity,
  type HostRotationStatus,
} from './entities/host-rotation.entity';
export { HOST_SAGAS, HostStepEntity, type HostSagaKind } from './entities/host-step.entity';
export { IdempotencyKeyEntity } from './entities/idempotency-key.entity';
export { OutboxMessageEntity } from './entities/outbox-message.entity';
export {
  ProvisioningStepEntity,
  SAGAS,
  STEP_STATUSES,
  type Saga,
  type StepStatus,
} from './entities/provisioning-step.entity';
export { TenantEventEntity } from './entities/tenant-event.entity';
export { TenantEntity } from './entities/tenant.entity';
export {
  ROLLOUT_PAUSE_KINDS,
  ROLLOUT_STATUSES,
  SchemaRolloutEntity,
  type RolloutPauseKind,
  type RolloutStatus,
  type RolloutWave,
} from './entities/schema-rollout.entity';
export { SchemaRolloutEventEntity } from './entities/schema-rollout-event.entity';
export {
  ROLLOUT_TENANT_STATES,
  SchemaRolloutTenantEntity,
  type RolloutTenantState,
} from './entities/schema-rollout-tenant.entity';
export { ReconcileFindingEntity } from './entities/reconcile-finding.entity';
export { ReconcileHostFindingEntity } from './entities/reconcile-host-finding.entity';
export { ORPHAN_TYPES, ReconcileOrphanEntity, type OrphanType } from './entities/reconcile-orphan.entity';
export { ReconcilePassEntity } from './entities/reconcile-pass.entity';
export {
  CHANGE_APPLY,
  CHANGE_KINDS,
  CHANGE_STATUSES,
  OPEN_CHANGE_STATUSES,
  TenantChangeEntity,
  type ChangeApply,
  type ChangeKind,
  type ChangeStatus,
} from './entities/tenant-change.entity';
export {
  RESTORE_COPY_STATUSES,
  TenantRestoreCopyEntity,
  type RestoreCopyStatus,
  type RestoreSource,
} from './entities/tenant-restore-copy.entity';
