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

/** A move's change ends SUCCEEDED or FAILED; a move never waits for a maintenance window. */
export function moveEnded(change: MoveChange): boolean {
  return change.status === 'SUCCEEDED' || change.status === 'FAILED';
}

/** The lines of steps whose status differs from `before` (all of them the first time), in order. */
export function stepChanges(before: MoveChange | null, after: MoveChange): string[] {
  const seen = new Map((before?.steps ?? []).map((s) => [s.name, s.status]));
  return after.steps.filter((s) => seen.get(s.name) !== s.status).map((s) => `${s.name}: ${s.status}`);
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
  if (change.error) {
    const at = change.error.step ? ` at ${change.error.step}` : '';
    const code = change.error.code ? `${change.error.code}: ` : '';
    lines.push(`failed${at}: ${code}${change.error.message}`);
  }
  if (change.abortRequested && change.status === 'RUNNING') lines.push('abort requested');
  return lines;
}

/** What a watch needs: the tenant read again, where it reports, and how it waits. */
export interface MoveWatch {
  read: (id: string) => Promise<MoveTenant>;
  /** A line that stays (a step that changed). */
  event: (line: string) => void;
  /** A line that replaces the previous one (where the move stands). */
  progress: (line: string) => void;
  sleep: () => Promise<void>;
}

/**
 * Follows `tenant`'s move (its change of this run) until it ends, reporting each step as its
 * status changes; answers the tenant as last read. A change that is not a move, or a later one,
 * ends the watch.
 */
export async function watchMove<T extends MoveTenant>(
  tenant: T,
  watch: Omit<MoveWatch, 'read'> & { read: (id: string) => Promise<T> },
): Promise<T> {
  let t = tenant;
  const run = t.change?.run;
  let previous: MoveChange | null = null;
  for (;;) {
    const c = t.change;
    if (!c || c.kind !== 'move' || c.run !== run) return t;
    for (const line of stepChanges(previous, c)) watch.event(`${t.slug}: ${line}`);
    previous = c;
    const done = c.steps.filter((s) => s.status === 'done').length;
    watch.progress(`${t.slug}: move ${c.from} → ${c.to} ${c.status}  ${done}/${c.steps.length || '?'} steps`);
    if (moveEnded(c)) return t;
    await watch.sleep();
    t = await watch.read(t.id);
  }
}
