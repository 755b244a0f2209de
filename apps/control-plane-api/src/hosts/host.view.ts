import type { AlarmView } from '@silo/aws';
import type { ReconcileHostFindingEntity } from '@silo/control-plane-db';
import type { HostWithTenants } from '@silo/fleet';
import { alarmView, findingView } from '../tenants/tenant.view';

/** The alarms of a host as the fleet alarm view had them, or null before CloudWatch answered. */
export interface HostAlarms {
  readAt: Date;
  items: readonly AlarmView[];
}

/** A host as the API shows it: no secret name, ARN or password. */
export function hostView(
  { host, tenantsPlaced }: HostWithTenants,
  alarms: HostAlarms | null,
  findings: readonly ReconcileHostFindingEntity[],
) {
  return {
    id: host.id,
    name: host.name,
    placement: host.placement,
    tier: host.tier,
    region: host.region,
    status: host.status,
    instanceIdentifier: host.instanceIdentifier,
    tenantsPlaced,
    capacity: { tenants: host.capacityTenants, connectionBudget: host.connectionBudget },
    endpoint:
      host.endpointHost !== null && host.endpointPort !== null
        ? { host: host.endpointHost, port: host.endpointPort, database: host.databaseName }
        : null,
    error: host.error
      ? { code: host.error.code, message: host.error.message, step: host.error.step ?? null }
      : null,
    emptySince: host.emptySince?.toISOString() ?? null,
    createdAt: host.createdAt.toISOString(),
    updatedAt: host.updatedAt.toISOString(),
    deletedAt: host.deletedAt?.toISOString() ?? null,
    alarms: alarms ? { readAt: alarms.readAt.toISOString(), items: alarms.items.map(alarmView) } : null,
    findings: findings.map(findingView),
  };
}
