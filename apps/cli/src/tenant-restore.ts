import { isoSeconds, resolveTime, wallClock, type TimeContext } from './restore-time';
import { table } from './render';

export type RestoreSource = { pointInTime: string } | { latest: true } | { snapshot: string };

/** `POST /v1/tenants/{id}/restores`'s body. */
export interface RestoreBody {
  source: RestoreSource;
  mode: string;
  /** In place: start a rollout of the tenant once switched, when its restored data is behind. */
  rollout?: true;
}

/** A restore copy as `GET /v1/tenants/{id}/restores` lists it (the fields the CLI reads). */
export interface RestoreCopyView {
  run: number;
  status: string;
  source: Record<string, unknown>;
  region: string;
  instanceIdentifier: string;
  readerSecretName: string;
  endpoint: { host: string; port: number; database: string } | null;
  createdAt: string;
  expiresAt: string;
  removedAt: string | null;
}

/** A snapshot or export as `GET /v1/tenants/{id}/snapshots` lists it. */
export interface SnapshotView {
  identifier: string;
  type: string;
  status: string;
  createdAt: string | null;
  restorable: boolean;
  export: { bucket: string; key: string; bytes: number | null } | null;
}

/** The fields of a tenant `restorable` reads. */
export interface RestorableTenant {
  id: string;
  slug: string;
  status: string;
  placement?: string;
  restorable?: { earliest: string; latest: string } | null;
}

/**
 * The restore's body from its flags: exactly one source, `--to` read by resolveTime. `note` says
 * what `--to` resolved to, for the operator to see before the request goes out.
 */
export function restoreBody(
  flags: { to?: string; latest?: boolean; snapshot?: string; mode: string; rollout?: boolean },
  time: TimeContext,
): { ok: true; body: RestoreBody; note: string | null } | { ok: false; problem: string } {
  const also = flags.rollout ? { rollout: true as const } : {};
  const given = (['to', 'latest', 'snapshot'] as const).filter(
    (k) => flags[k] !== undefined && flags[k] !== false,
  );
  if (given.length === 0)
    return { ok: false, problem: 'tenants restore needs --to <time>, --latest or --snapshot <id>' };
  if (given.length > 1)
    return {
      ok: false,
      problem: `give one of --to, --latest and --snapshot, not ${given.map((k) => `--${k}`).join(' and ')}`,
    };
  if (flags.snapshot !== undefined) {
    if (!flags.snapshot.trim())
      return {
        ok: false,
        problem: '--snapshot needs a snapshot id (silo tenants snapshots <id> lists them)',
      };
    return {
      ok: true,
      body: { source: { snapshot: flags.snapshot }, mode: flags.mode, ...also },
      note: null,
    };
  }
  if (flags.latest)
    return { ok: true, body: { source: { latest: true }, mode: flags.mode, ...also }, note: null };
  const resolved = resolveTime(flags.to!, time);
  if (!resolved.ok) return { ok: false, problem: `--to "${flags.to}": ${resolved.problem}` };
  const at = isoSeconds(resolved.at);
  return {
    ok: true,
    body: { source: { pointInTime: at }, mode: flags.mode, ...also },
    note: `restore as of ${at}${resolved.zone ? ` ("${flags.to!.trim()}" in ${resolved.zone})` : ''}, mode ${flags.mode}`,
  };
}

/** `pointInTime 2026-12-07T09:32:00Z`, `latest`, `snapshot <id>`, or the source as it came. */
export function sourceText(source: Record<string, unknown>): string {
  if (typeof source.pointInTime === 'string') return `pointInTime ${source.pointInTime}`;
  if (typeof source.snapshot === 'string') return `snapshot ${source.snapshot}`;
  if (source.latest === true) return 'latest';
  return Object.entries(source)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}

export function copiesTable(copies: RestoreCopyView[]): string {
  if (!copies.length) return 'no restore copies';
  return table(
    ['RUN', 'STATUS', 'SOURCE', 'INSTANCE', 'REGION', 'READER SECRET', 'EXPIRES'],
    copies.map((c) => [
      c.run,
      c.status,
      sourceText(c.source),
      c.instanceIdentifier,
      c.region,
      c.readerSecretName,
      c.status === 'REMOVED' ? `removed ${c.removedAt ?? ''}`.trim() : c.expiresAt,
    ]),
  );
}

/** One copy: what it holds, where to read it, and when it goes. */
export function copyLines(c: RestoreCopyView): string[] {
  const gone =
    c.status === 'REMOVED' ? `removed ${c.removedAt ?? ''}`.trim() : `removed after ${c.expiresAt}`;
  return [
    `restore copy ${c.run} (${sourceText(c.source)}): ${c.status}`,
    `  instance ${c.instanceIdentifier} in ${c.region}${c.endpoint ? `, ${c.endpoint.host}:${c.endpoint.port}/${c.endpoint.database}` : ''}`,
    `  read-only login in secret ${c.readerSecretName}`,
    `  ${gone}`,
  ];
}

export function snapshotsTable(snapshots: SnapshotView[]): string {
  if (!snapshots.length) return 'no snapshots';
  return table(
    ['IDENTIFIER', 'TYPE', 'STATUS', 'CREATED', 'RESTORABLE'],
    snapshots.map((s) => [
      s.export ? `s3://${s.export.bucket}/${s.export.key}` : s.identifier,
      s.type,
      s.status,
      s.createdAt,
      s.restorable ? 'yes' : 'no',
    ]),
  );
}

/**
 * Where a point-in-time restore can reach (in UTC and in `zone`), or why it cannot; then the
 * snapshots a restore can start from.
 */
export function restorableText(t: RestorableTenant, snapshots: SnapshotView[], zone: string): string {
  const w = t.restorable;
  const window = w
    ? [
        `${t.slug}: point in time from ${isoSeconds(new Date(w.earliest))} to ${isoSeconds(new Date(w.latest))} (an estimate: the restore checks RDS's own window)`,
        `  in ${zone}: ${wallClock(new Date(w.earliest), zone)} to ${wallClock(new Date(w.latest), zone)}`,
      ]
    : [`${t.slug}: no point-in-time window: ${noWindowReason(t)}`];
  return [...window, '', snapshotsTable(snapshots)].join('\n');
}

function noWindowReason(t: RestorableTenant): string {
  if (t.placement && t.placement !== 'instance')
    return `a ${t.placement} tenant has no instance of its own (its restores are not made yet)`;
  if (t.status !== 'ACTIVE' && t.status !== 'SUSPENDED') return `it is ${t.status}`;
  return 'its tier keeps no backups, or it is too new to have any';
}
