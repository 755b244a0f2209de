import { canTransition } from '../../../libs/core/src/tenant/tenant-lifecycle';
import type { Tenant } from './api';

/** A change in these holds the tenant: no other change (or, while RUNNING, deletion) starts. */
const OPEN_CHANGE = ['RUNNING', 'PENDING_MAINTENANCE'];

export interface TenantActions {
  retry: boolean;
  suspend: boolean;
  resume: boolean;
  changeTier: boolean;
  rotate: boolean;
  delete: boolean;
}

/**
 * What the tenant's state allows, by the lifecycle and the API's rules: retry only FAILED,
 * suspend only ACTIVE, resume only SUSPENDED; tier changes and rotations of an ACTIVE or
 * SUSPENDED tenant that no change holds (no rotation for a pooled tenant, whose login is its
 * host's pool login, rotated on the host); deletion from where the lifecycle goes to
 * DEPROVISIONING, not while a change runs. The API still decides (a 409 if the tenant moved
 * on since it was read).
 */
export function tenantActions(t: Pick<Tenant, 'status' | 'change' | 'placement'>): TenantActions {
  const live = t.status === 'ACTIVE' || t.status === 'SUSPENDED';
  const held = t.change !== null && OPEN_CHANGE.includes(t.change.status);
  return {
    retry: t.status === 'FAILED' && canTransition(t.status, 'PROVISIONING'),
    suspend: canTransition(t.status, 'SUSPENDED'),
    resume: t.status === 'SUSPENDED' && canTransition(t.status, 'ACTIVE'),
    changeTier: live && !held,
    rotate: live && !held && t.placement !== 'pool',
    delete: canTransition(t.status, 'DEPROVISIONING') && t.change?.status !== 'RUNNING',
  };
}

/**
 * Whether the tenant is on its way somewhere (a saga or a change running): its events and
 * alarms are then read as often as its status.
 */
export function isChanging(t: Pick<Tenant, 'status' | 'change'>): boolean {
  const settled = ['ACTIVE', 'SUSPENDED', 'FAILED', 'DELETED'].includes(t.status);
  return !settled || t.change?.status === 'RUNNING';
}
