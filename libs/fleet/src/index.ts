export * from './tiers';
export * from './hosts';
export { LocalPostgresDatabaseHost } from './backends/local-postgres-database-host';
export { RdsDatabaseHost } from './backends/rds-database-host';
export {
  TENANT_DATABASE_HOST,
  type StartedInstance,
  type TenantDatabaseEndpoint,
  type TenantDatabaseHost,
} from './backends/tenant-database-host';
export * from './jobs/provisioning-jobs';
export * from './jobs/host-jobs';
export * from './jobs/snapshot-jobs';
export {
  TenantOnboarding,
  type CreatedTenant,
  type IdempotencyClaim,
  type NewTenant,
} from './onboarding/tenant-onboarding.service';
export { FleetModule, RECONCILER_FLEET, SAGA_DEPS } from './fleet.module';
export {
  TenantQueries,
  type TenantChangeDetail,
  type TenantCursor,
  type TenantListQuery,
  type TenantPage,
} from './queries/tenant-queries.service';
export { backoffDelay } from './saga/backoff';
export { DEPROVISION_STEPS, DeprovisioningSaga, type DeprovisionStep } from './saga/deprovisioning-saga';
export { ProvisioningSaga, type SagaOutcome } from './saga/provisioning-saga';
export { ProvisioningSettings } from './saga/provisioning-settings';
export { PROVISION_STEPS, type ProvisionStep, type StepDeps } from './saga/provisioning-steps';
export { regionOf, stepDepsInRegion } from './saga/regional-deps';
export { RegionalDatabaseHosts, regionalDatabaseHosts } from './backends/regional-database-hosts';
export { ALARM_METRICS, tenantAlarmSpecs } from './saga/tenant-alarm-specs';
export type {
  ProvisioningStore,
  SagaContext,
  SagaLog,
  StepRecord,
  TenantRecord,
} from './store/provisioning-store';
export { TypeormProvisioningStore } from './store/typeorm-provisioning-store';
export { TenantDatabaseAdmin } from './tenant-database-admin';
export {
  planRollout,
  type PlannedWave,
  type RolloutCandidate,
  type RolloutPlan,
} from './rollouts/rollout-plan';
export {
  RolloutTenantMigration,
  type RolloutTarget,
  type RolloutTenantPass,
} from './rollouts/rollout-tenant-migration';
export { SchemaRollouts, type NewRollout, type RolloutDetail } from './rollouts/schema-rollouts.service';
export { Reconciler, type ReconcileQueue, type ReconcileResult } from './reconcile/reconciler';
export {
  alarmDrift,
  FINDING_KINDS,
  FINDING_SEVERITIES,
  instanceDrift,
  secretDrift,
  type Finding,
  type FindingKind,
  type FindingSeverity,
} from './reconcile/drift';
export {
  FleetCheck,
  reconcilerFleet,
  type FleetAccess,
  type FleetCheckResult,
  type FleetSettings,
} from './reconcile/fleet-check';
export { findOrphans, orphanedBy, type Orphan } from './reconcile/orphans';
export {
  NotAnOrphanError,
  OrphanDeletion,
  type OrphanAccess,
  type OrphanRef,
} from './reconcile/orphan-deletion';
export { Reconciliation, type PendingJobs } from './reconcile/reconciliation.service';
export {
  MIN_STORAGE_INCREASE,
  hostSizing,
  hostSizingDifferences,
  modificationOf,
  planSharedTierChange,
  planTierChange,
  reaches,
  STORAGE_COOLDOWN_MS,
  TierChangeRefused,
  type InstanceModification,
  type HostSizing,
  type InstanceShape,
  type SharedTierChangePlan,
  type TierChangePlan,
  type TierChangeRule,
} from './changes/tier-change-plan';
export { TenantChanges, shapeOf } from './changes/tenant-changes.service';
export { ChangeStore } from './changes/change-store';
export {
  MODIFY_STEPS,
  modifySteps,
  ModifySaga,
  SHARED_MODIFY_STEPS,
  type ModifyStep,
  type TagWriter,
} from './changes/modify-saga';
export {
  ROTATION_TARGETS,
  RotationSaga,
  rotationSteps,
  type RotationStep,
  type RotationTarget,
} from './changes/rotation-saga';
export { runChangeSteps, type ChangeStepResult } from './changes/change-steps';
export { MOVE_APP_SECRET_SUFFIX, TenantMoves } from './moves/tenant-moves.service';
export {
  moveSupported,
  placeLabel,
  type MovePlan,
  type MoveRequest,
  type TenantPlace,
} from './moves/move-plan';
export {
  COPY_STEPS,
  INSTANCE_TARGET_STEPS,
  MoveSaga,
  moveSteps,
  POOL_TARGET_STEPS,
  type MoveSagaDeps,
  type MoveStep,
} from './moves/move-saga';
export { MovedSourceRemoval, moveIdOf } from './moves/moved-source-removal';
export {
  RESTORE_MODES,
  type RestoreMode,
  type RestorePlan,
  type RestoreRequestSource,
} from './restores/restore-plan';
export {
  RESTORE_COPY_STEPS,
  RESTORE_REPLACE_STEPS,
  RESTORE_SHARED_COPY_STEPS,
  RESTORE_SHARED_REPLACE_STEPS,
  RestoreSaga,
  type RestoreSagaDeps,
} from './restores/restore-saga';
export { RestoreCopyRemoval, removeRestoreCopyInstance } from './restores/restore-copy-removal';
export { TenantRestores, type RestoreRequest } from './restores/tenant-restores.service';
export { TenantUndeletes } from './undelete/tenant-undeletes.service';
export { UndeleteSaga, type UndeleteSagaDeps } from './undelete/undelete-saga';
export {
  SHARED_UNDELETE_STEPS,
  UNDELETE_STEPS,
  undeleteSteps,
  type InstanceUndeletePlan,
  type SharedUndeletePlan,
  type UndeletePlan,
  type UndeleteStep,
} from './undelete/undelete-plan';
export {
  TenantSnapshots,
  type RequestedSnapshot,
  type TenantSnapshot,
} from './snapshots/tenant-snapshots.service';
export { SnapshotTenantJob } from './snapshots/snapshot-tenant.job';
export {
  estimatedRestorableWindow,
  RESTORE_LAG_MS,
  type EstimatedRestorableWindow,
} from './snapshots/restorable-estimate';
export { RedisRouteSignals, ROUTE_SIGNALS, type RouteSignals } from './moves/route-signals';
