import { HostEntity } from './entities/host.entity';
import { HostRotationEntity } from './entities/host-rotation.entity';
import { HostStepEntity } from './entities/host-step.entity';
import { IdempotencyKeyEntity } from './entities/idempotency-key.entity';
import { OutboxMessageEntity } from './entities/outbox-message.entity';
import { ProvisioningStepEntity } from './entities/provisioning-step.entity';
import { ReconcileFindingEntity } from './entities/reconcile-finding.entity';
import { ReconcileHostFindingEntity } from './entities/reconcile-host-finding.entity';
import { ReconcileOrphanEntity } from './entities/reconcile-orphan.entity';
import { ReconcilePassEntity } from './entities/reconcile-pass.entity';
import { SchemaRolloutEventEntity } from './entities/schema-rollout-event.entity';
import { SchemaRolloutTenantEntity } from './entities/schema-rollout-tenant.entity';
import { SchemaRolloutEntity } from './entities/schema-rollout.entity';
import { TenantChangeEntity } from './entities/tenant-change.entity';
import { TenantEventEntity } from './entities/tenant-event.entity';
import { TenantRestoreCopyEntity } from './entities/tenant-restore-copy.entity';
import { TenantEntity } from './entities/tenant.entity';
import { InitialControlPlaneSchema1795363200000 } from './migrations/1795363200000-initial-control-plane-schema';
import { ProvisioningRunTracking1795366800000 } from './migrations/1795366800000-provisioning-run-tracking';
import { StepFailures1795370400000 } from './migrations/1795370400000-step-failures';
import { ProvisioningRunsAndIdempotency1795374000000 } from './migrations/1795374000000-provisioning-runs-and-idempotency';
import { SchemaRollouts1795377600000 } from './migrations/1795377600000-schema-rollouts';
import { ReconcilePasses1795381200000 } from './migrations/1795381200000-reconcile-passes';
import { ReconcileFindingsAndOrphans1795384800000 } from './migrations/1795384800000-reconcile-findings-and-orphans';
import { TenantChanges1795388400000 } from './migrations/1795388400000-tenant-changes';
import { OutboxReconcileRequests1795392000000 } from './migrations/1795392000000-outbox-reconcile-requests';
import { RolloutTenantSkips1795395600000 } from './migrations/1795395600000-rollout-tenant-skips';
import { SharedHosts1795399200000 } from './migrations/1795399200000-shared-hosts';
import { HostSteps1795402800000 } from './migrations/1795402800000-host-steps';
import { RolloutTargets1795406400000 } from './migrations/1795406400000-rollout-targets';
import { HostRotations1795413600000 } from './migrations/1795413600000-host-rotations';
import { HostReconcile1795417200000 } from './migrations/1795417200000-host-reconcile';
import { DataPlaneDirectory1795420800000 } from './migrations/1795420800000-data-plane-directory';
import { TenantRegions1795424400000 } from './migrations/1795424400000-tenant-regions';
import { TenantMoves1795428000000 } from './migrations/1795428000000-tenant-moves';
import { TenantRestores1795431600000 } from './migrations/1795431600000-tenant-restores';
import { RestoreCopyDirectory1795435200000 } from './migrations/1795435200000-restore-copy-directory';
import { TenantUndelete1795438800000 } from './migrations/1795438800000-tenant-undelete';

/** Entity classes, listed rather than globbed so that bundling and ts-jest both see them. */
export const CONTROL_PLANE_ENTITIES = [
  TenantEntity,
  TenantEventEntity,
  ProvisioningStepEntity,
  OutboxMessageEntity,
  IdempotencyKeyEntity,
  SchemaRolloutEntity,
  SchemaRolloutTenantEntity,
  SchemaRolloutEventEntity,
  ReconcilePassEntity,
  ReconcileFindingEntity,
  ReconcileOrphanEntity,
  TenantChangeEntity,
  HostEntity,
  HostStepEntity,
  HostRotationEntity,
  ReconcileHostFindingEntity,
  TenantRestoreCopyEntity,
];

/** Migrations in the order they apply. */
export const CONTROL_PLANE_MIGRATIONS = [
  InitialControlPlaneSchema1795363200000,
  ProvisioningRunTracking1795366800000,
  StepFailures1795370400000,
  ProvisioningRunsAndIdempotency1795374000000,
  SchemaRollouts1795377600000,
  ReconcilePasses1795381200000,
  ReconcileFindingsAndOrphans1795384800000,
  TenantChanges1795388400000,
  OutboxReconcileRequests1795392000000,
  RolloutTenantSkips1795395600000,
  SharedHosts1795399200000,
  HostSteps1795402800000,
  RolloutTargets1795406400000,
  HostRotations1795413600000,
  HostReconcile1795417200000,
  DataPlaneDirectory1795420800000,
  TenantRegions1795424400000,
  TenantMoves1795428000000,
  TenantRestores1795431600000,
  RestoreCopyDirectory1795435200000,
  TenantUndelete1795438800000,
];
