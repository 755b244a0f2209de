export {
  countPlaced,
  HostAllocator,
  placementRequestOf,
  type HostAllocatorSettings,
  type PlacementRequest,
  type TenantPlacement,
} from './host-allocator';
export { HostError, HostErrorCode } from './host.errors';
export {
  HOST_ROTATION_STEPS,
  HostRotationSaga,
  type HostRotationDeps,
  type HostRotationOutcome,
  type HostRotationStep,
} from './host-rotation-saga';
export { HostRotationStore } from './host-rotation-store';
export { HOST_ROTATIONS_PER_PASS, HostRotations, type HostRotationDetail } from './host-rotations.service';
export { lockHostPool } from './host-pool-lock';
export {
  HostQueries,
  type HostCursor,
  type HostListQuery,
  type HostPage,
  type HostWithTenants,
} from './host-queries.service';
export { HostRetirement } from './host-retirement';
export { hostAlarmNames, hostAlarmSpecs } from './host-alarm-specs';
export { HOST_ID_TAG, HostAwsResources, taggedForHost } from './host-aws-resources';
export { HostCreateSaga, type HostSagaOutcome } from './host-create-saga';
export {
  HOST_CREATE_STEPS,
  hostCreateSteps,
  hostProfile,
  type HostCreateStep,
  type HostSagaDeps,
} from './host-create-steps';
export { HOST_DELETE_STEPS, HostDeleteSaga, type HostDeleteStep } from './host-delete-saga';
export type { HostSagaLog } from './host-journal';
export { readHostMetrics, type HostCount, type HostFill, type HostMetrics } from './host-metrics';
export { HostSaga, type HostConnection } from './host-saga';
export { hostLockKey, HostStepStore } from './host-step-store';
export {
  DEFAULT_EMPTY_HOST_GRACE_MS,
  HostSweep,
  type HostSweepOptions,
  type HostSweepResult,
} from './host-sweep';
