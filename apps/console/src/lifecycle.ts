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
  move: boolean;
  delete: boolean;
}

/**
 * What the tenant's state allows, by the lifecycle and the API's rules: retry only FAILED,
 * suspend only ACTIVE, resume only SUSPENDED; tier changes and rotations of an ACTIVE or
 * SUSPENDED tenant that no change holds (no rotation for a pooled tenant, whose login is its
 * host's pool login, rotated on the host) and moves likewise; deletion from where the lifecycle goes to
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
    move: live && !held,
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

type Change = NonNullable<Tenant['change']>;

/** A move's step statuses from which its cut-over has begun: after it, the move goes on. */
const CUT_OVER_BEGUN = ['running', 'waiting', 'done'];

export interface MoveState {
  running: boolean;
  /** Running, not asked to abort yet, and its cut-over not begun (the API still decides: a 409). */
  abortable: boolean;
  abortRequested: boolean;
  /** How long the tenant's writes were paused, once it switched. */
  pausedForMs: number | null;
  error: string | null;
}

/** Where the tenant's move stands, for its panel; null when its latest change is not a move. */
export function moveState(change: Change | null): MoveState | null {
  if (!change || change.kind !== 'move') return null;
  const running = change.status === 'RUNNING';
  const cutOverBegun = change.steps.some(
    (s) => (s.name === 'cut-over' || s.name === 'clean-up') && CUT_OVER_BEGUN.includes(s.status),
  );
  return {
    running,
    abortable: running && !change.abortRequested && !cutOverBegun,
    abortRequested: change.abortRequested,
    pausedForMs: change.cutOver?.pausedForMs ?? null,
    error: change.error
      ? `${change.error.code}${change.error.step ? ` at ${change.error.step}` : ''}: ${change.error.message}`
      : null,
  };
}

/**
 * The body of `POST …/move` from the form: only the fields filled in (an empty one keeps what the
 * tenant has; the placement, the tier's), null when none is.
 */
export function moveRequest(form: {
  placement: string;
  region: string;
  tier: string;
}): { placement?: string; region?: string; tier?: string } | null {
  const body = Object.fromEntries(
    Object.entries(form)
      .map(([k, v]) => [k, v.trim()] as const)
      .filter(([, v]) => v !== ''),
  );
  return Object.keys(body).length ? body : null;
}
