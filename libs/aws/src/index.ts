export { awsClientSettings, type AwsClientSettings } from './aws-client-config';
export { AwsClients, RegionalAwsClients, regionalAdapter, type AwsClientSet } from './aws-clients';
export { ControlPlaneSecrets, type ControlPlaneSecret } from './control-plane-secrets.adapter';
export { awsCall, isRetryableAwsError, toProvisioningError } from './aws-error-classification';
export { fromAwsTags, TENANT_ID_TAG, type Tags } from './aws-tags';
export { AwsModule } from './aws.module';
export {
  RdsInstances,
  TERMINAL_INSTANCE_STATES,
  type DeleteOutcome,
  type InstanceChanges,
  type InstanceSpec,
  type InstanceView,
  type PendingModification,
} from './rds-instances.adapter';
export {
  RdsSnapshots,
  SNAPSHOT_PAGE_SIZE,
  type SnapshotOptions,
  type SnapshotView,
} from './rds-snapshots.adapter';
export {
  RdsRestores,
  RESTORED_FROM_TAG,
  type PointInTimeRestoreSpec,
  type RestorableWindow,
  type RestoreOutcome,
  type RestoreTarget,
  type SnapshotRestoreSpec,
} from './rds-restores.adapter';
export {
  LOGICAL_REPLICATION_PARAMETER,
  PARAMETER_GROUP_TAG_KEYS,
  parameterGroupFamily,
  parameterGroupName,
  parameterGroupTags,
  type ParameterGroupOutcome,
  type ParameterGroupSpec,
} from './rds-parameter-groups';
export {
  FLEET_PAGE_SIZE,
  FleetInventory,
  type FleetAlarm,
  type FleetInstance,
  type FleetSecret,
  type FleetSnapshot,
  type InstanceProtection,
} from './fleet-inventory.adapter';
export {
  ALARM_EVALUATION,
  ALARM_STATES,
  TenantAlarms,
  type AlarmSpec,
  type AlarmState,
  type AlarmView,
} from './tenant-alarms.adapter';
export {
  QUEUE_DEPTH_METRICS,
  QueueMetrics,
  SILO_METRIC_NAMESPACE,
  type QueueDepth,
} from './queue-metrics.adapter';
export { RdsEngineVersions, type EngineVersionStatus } from './rds-engine-versions.adapter';
export { TenantSecrets, type SecretJson } from './tenant-secrets.adapter';
export {
  EXPORT_PART_BYTES,
  RETAIN_UNTIL_TAG,
  tenantExportKey,
  TenantExports,
  type StoredTenantExport,
  type TenantExportKind,
  type TenantExportOptions,
} from './tenant-exports.adapter';
