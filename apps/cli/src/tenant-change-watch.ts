/** The fields of a tenant's change (the API's `change`) that a watch reads. */
export interface WatchedChange {
  kind: string;
  run: number;
  from: string;
  to: string;
  status: string;
  steps: { name: string; saga?: string; status: string }[];
}

export interface WatchedTenant {
  id: string;
  slug: string;
  change: WatchedChange | null;
}

/** What a watch needs: the tenant read again, where it reports, and how it waits. */
export interface ChangeWatch<T> {
  read: (id: string) => Promise<T>;
  /** A line that stays (a step that changed). */
  event: (line: string) => void;
  /** A line that replaces the previous one (where the change stands). */
  progress: (line: string) => void;
  sleep: () => Promise<void>;
}

/** Moves and restores end SUCCEEDED or FAILED; neither waits for a maintenance window. */
export function changeEnded(change: WatchedChange): boolean {
  return change.status === 'SUCCEEDED' || change.status === 'FAILED';
}

/** `failed at <step>: <CODE>: <message>`: why a change failed, as a line. */
export function changeFailure(error: { code?: string; message: string; step?: string }): string {
  const at = error.step ? ` at ${error.step}` : '';
  const code = error.code ? `${error.code}: ` : '';
  return `failed${at}: ${code}${error.message}`;
}

/** The lines of steps whose status differs from `before` (all of them the first time), in order. */
export function stepChanges(before: WatchedChange | null, after: WatchedChange): string[] {
  const seen = new Map((before?.steps ?? []).map((s) => [s.name, s.status]));
  return after.steps.filter((s) => seen.get(s.name) !== s.status).map((s) => `${s.name}: ${s.status}`);
}

/**
 * Follows `tenant`'s change of `kind` (its change of this run) until it ends, reporting each step
 * as its status changes; answers the tenant as last read. A change of another kind, or a later
 * one, ends the watch.
 */
export async function watchChange<T extends WatchedTenant>(
  tenant: T,
  kind: string,
  watch: ChangeWatch<T>,
): Promise<T> {
  let t = tenant;
  const run = t.change?.run;
  let previous: WatchedChange | null = null;
  for (;;) {
    const c = t.change;
    if (!c || c.kind !== kind || c.run !== run) return t;
    for (const line of stepChanges(previous, c)) watch.event(`${t.slug}: ${line}`);
    previous = c;
    const done = c.steps.filter((s) => s.status === 'done').length;
    watch.progress(
      `${t.slug}: ${kind} ${c.from} → ${c.to} ${c.status}  ${done}/${c.steps.length || '?'} steps`,
    );
    if (changeEnded(c)) return t;
    await watch.sleep();
    t = await watch.read(t.id);
  }
}
