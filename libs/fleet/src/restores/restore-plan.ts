import type { RestoreSource } from '@silo/control-plane-db';
import type { Placement } from '@silo/core';

/** What a restore request may name (a copy's `replacedAt` is recorded, never asked for). */
export type RestoreRequestedSource = Exclude<RestoreSource, { replacedAt: string }>;

/** What a restore brings back: a point in time, a snapshot, or the latest restorable moment. */
export type RestoreRequestSource = { pointInTime: string } | { snapshot: string } | { latest: true };

/** `copy`: the restored data beside the live tenant; `replace`: the tenant served from it. */
export const RESTORE_MODES = ['copy', 'replace'] as const;
export type RestoreMode = (typeof RESTORE_MODES)[number];

/**
 * A restore as recorded on its change row (`tenant_changes.plan`) when it is requested, and what
 * its steps learn as they run. Never a secret.
 */
export interface RestorePlan {
  mode: RestoreMode;
  source: RestoreRequestedSource;
  /** The moment restored to, resolved when the restore was requested (`latest` included). */
  restoreTime: string;
  /** The instance restored from: the tenant's own when the restore was requested, or its host's. */
  sourceInstance: string;
  /** The tenant's placement when the restore was requested (absent in plans of earlier versions: instance). */
  placement?: Placement;
  /** A shared tenant's host, whose instance is restored from. */
  hostName?: string | null;
  /** The schema the copy's reader reads: `app`, or a schema tenant's own. */
  schema?: string;
  region: string;
  /** The copy's names (restoreCopyNames) and its owner login. */
  copy: {
    instanceIdentifier: string;
    masterSecretName: string;
    readerSecretName: string;
    readerRole: string;
    masterUsername: string;
  };
  /**
   * A restore in place: the restored instance until the switch (restoreCopyNames'
   * `incomingIdentifier`); the tenant's own instance becomes the copy. Null for a copy.
   */
  incomingInstance: string | null;
  /** A restore in place: its first rename asked for (its point of no return). */
  renaming?: boolean;
  /** A restore in place: how far its cut-over has renamed (see RestoreSaga.cutOver). */
  renamed?: 'live-to-copy' | 'incoming-to-live';
  /** A restore in place: when its cut-over paused the tenant's writes. */
  pausedAt?: string;
  /** A restore in place: switched to the restored data (its figures then on the change). */
  switched?: boolean;
  /**
   * A restore in place asked to start a rollout of the tenant to the newest migration when the
   * restored data is behind it (`rollout: true` in the request); started by its last step.
   */
  rollout?: boolean;
  /** When the copy is removed (RESTORE_COPY_TTL_HOURS after it is ready); set by its last step. */
  expiresAt: string | null;
}

/** `pointInTime 2026-12-07T10:32:00.000Z`: a restore's source as a change's `from` shows it. */
export function sourceLabel(source: RestoreRequestedSource, restoreTime: string): string {
  if ('snapshot' in source) return `snapshot ${source.snapshot}`.slice(0, 64);
  return `${'latest' in source ? 'latest' : 'pointInTime'} ${restoreTime}`;
}
