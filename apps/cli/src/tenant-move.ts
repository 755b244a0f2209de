import { changeFailure, watchChange, type ChangeWatch } from './tenant-change-watch';

/** The fields of a tenant's change the move commands read (the API's `change`). */
export interface MoveChange {
  kind: string;
  run: number;
  from: string;
  to: string;
  status: string;
  steps: { name: string; saga?: string; status: string }[];
  error: { code?: string; message: string; step?: string } | null;
  toTier?: string | null;
  abortRequested?: boolean;
  cutOver?: {
    frozenForMs: number;
    pausedForMs: number;
    tables: { table: string; rows: number }[];
  } | null;
  sourceRemovalDueAt?: string | null;
}

export interface MoveTenant {
  id: string;
  slug: string;
  change: MoveChange | null;
}

/** `POST /v1/tenants/{id}/move`'s body from the flags given; null when none is. */
export function moveBody(flags: {
  placement?: string;
  region?: string;
  tier?: string;
}): { placement?: string; region?: string; tier?: string } | null {
  const body = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  return Object.keys(body).length ? body : null;
}

/**
 * How a move ended, or where it stands: the write pause once it switched, the error when it
 * failed (aborted included), the abort asked for while it runs.
 */
export function moveOutcome(change: MoveChange): string[] {
  const lines: string[] = [];
  if (change.cutOver) {
    const rows = change.cutOver.tables.reduce((sum, t) => sum + t.rows, 0);
    const tables = change.cutOver.tables.length;
    lines.push(
      `writes paused ${change.cutOver.pausedForMs} ms (source frozen ${change.cutOver.frozenForMs} ms), ` +
        `${rows} row${rows === 1 ? '' : 's'} in ${tables} table${tables === 1 ? '' : 's'} copied`,
    );
  }
  if (change.sourceRemovalDueAt) lines.push(`source removed after ${change.sourceRemovalDueAt}`);
  if (change.error) lines.push(changeFailure(change.error));
  if (change.abortRequested && change.status === 'RUNNING') lines.push('abort requested');
  return lines;
}

/**
 * Follows `tenant`'s move (its change of this run) until it ends, reporting each step as its
 * status changes; answers the tenant as last read. A change that is not a move, or a later one,
 * ends the watch.
 */
export function watchMove<T extends MoveTenant>(tenant: T, watch: ChangeWatch<T>): Promise<T> {
  return watchChange(tenant, 'move', watch);
}
