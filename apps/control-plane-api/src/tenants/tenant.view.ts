import type { AlarmView } from '@silo/aws';
import type {
  ProvisioningStepEntity,
  ReconcileFindingEntity,
  TenantEntity,
  TenantEventEntity,
} from '@silo/control-plane-db';
import type { EstimatedRestorableWindow, MovePlan, TenantChangeDetail } from '@silo/fleet';

/** A reconciler finding as the API shows it (on a tenant and in GET /v1/reconciliation). */
export function findingView(
  f: Pick<
    ReconcileFindingEntity,
    'kind' | 'severity' | 'field' | 'expected' | 'found' | 'firstSeenAt' | 'lastSeenAt' | 'repairError'
  >,
) {
  return {
    kind: f.kind,
    severity: f.severity,
    field: f.field,
    expected: f.expected,
    found: f.found,
    since: f.firstSeenAt.toISOString(),
    lastSeen: f.lastSeenAt.toISOString(),
    repairError: f.repairError,
  };
}

/** The contract's tenant resource. Built from what the control plane stores: never a password. */
export function tenantView(
  t: TenantEntity,
  steps: ProvisioningStepEntity[],
  findings: ReconcileFindingEntity[],
  change: TenantChangeDetail | null,
  firingAlarms: number | null,
  host: { id: string; name: string } | null,
  restorable: EstimatedRestorableWindow | null,
) {
  return {
    id: t.id,
    slug: t.slug,
    name: t.name,
    tier: t.tier,
    status: t.status,
    placement: t.placement,
    region: t.region,
    host,
    schemaVersion: t.schemaVersion,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
    database: t.dbInstanceIdentifier
      ? {
          instanceIdentifier: t.dbInstanceIdentifier,
          instanceClass: t.dbInstanceClass,
          engine: t.dbEngine,
          engineVersion: t.dbEngineVersion,
          multiAz: t.dbMultiAz,
          storageEncrypted: t.dbStorageEncrypted,
          endpoint:
            t.dbEndpointHost && t.dbEndpointPort ? { host: t.dbEndpointHost, port: t.dbEndpointPort } : null,
          databaseName: t.dbName,
          appSecretArn: t.appSecretArn,
          schemaVersion: t.schemaVersion,
        }
      : null,
    provisioning: {
      steps: steps.map(stepView),
      lastError: t.failureCode
        ? { code: t.failureCode, message: t.failureMessage ?? '', step: t.failureStep ?? '' }
        : null,
    },
    findings: findings.map(findingView),
    change: change ? changeView(change) : null,
    firingAlarms,
    restorable: restorable
      ? { earliest: restorable.earliest.toISOString(), latest: restorable.latest.toISOString() }
      : null,
  };
}

function stepView(s: ProvisioningStepEntity) {
  return {
    name: s.step,
    saga: s.saga,
    status: s.status,
    attempts: s.attempts,
    startedAt: s.startedAt?.toISOString() ?? null,
    finishedAt: s.finishedAt?.toISOString() ?? null,
  };
}

/** The tenant's latest change: what was asked, where it stands, what RDS holds pending, a move's figures. */
export function changeView({ change: c, steps }: TenantChangeDetail) {
  const plan = c.plan as { notes?: string[] };
  const move = c.kind === 'move' ? (c.plan as unknown as Partial<MovePlan>) : null;
  return {
    kind: c.kind,
    run: c.run,
    from: c.from,
    to: c.to,
    apply: c.apply,
    status: c.status,
    notes: plan.notes ?? [],
    steps: steps.map(stepView),
    pendingModifiedValues: c.pendingModifiedValues,
    error: c.errorCode ? { code: c.errorCode, message: c.errorMessage ?? '', step: c.errorStep ?? '' } : null,
    toTier: move?.to?.tier ?? null,
    abortRequested: move?.abortRequested === true,
    cutOver: move?.cutOver
      ? {
          frozenForMs: move.cutOver.frozenForMs,
          pausedForMs: move.cutOver.pausedForMs,
          tables: move.cutOver.tables.map(({ table, rows }) => ({ table, rows })),
        }
      : null,
    sourceRemovalDueAt: move?.sourceRemovalDueAt ?? null,
    requestedBy: c.requestedBy,
    requestedAt: c.createdAt.toISOString(),
    finishedAt: c.finishedAt?.toISOString() ?? null,
  };
}

export function eventView(e: TenantEventEntity) {
  return {
    at: e.at.toISOString(),
    type: e.type,
    message: e.message,
    actor: e.actor,
    correlationId: e.correlationId,
    data: e.data,
  };
}

export function alarmView(a: AlarmView) {
  return {
    name: a.name,
    metric: a.metric,
    comparison: a.comparison,
    threshold: a.threshold,
    state: a.state,
    stateReason: a.stateReason,
    updatedAt: a.updatedAt?.toISOString() ?? null,
  };
}
