/** An instance tenant's undelete, in order; each step idempotent (see UndeleteSaga). */
export const UNDELETE_STEPS = [
  'restore-secrets',
  'restore-instance',
  'restore-available',
  'publish-connection',
  'app-logins',
  'run-migrations',
  'create-alarms',
  'activate',
] as const;

/**
 * A schema or pool tenant's undelete, in order (see SharedUndeleteSteps). A pool tenant has no
 * secret, role or migrations of its own: those steps record that they had nothing to do.
 */
export const SHARED_UNDELETE_STEPS = [
  'restore-secrets',
  'place',
  'wait-host',
  'import-data',
  'bootstrap-database',
  'run-migrations',
  'activate',
] as const;

export type UndeleteStep = (typeof UNDELETE_STEPS)[number] | (typeof SHARED_UNDELETE_STEPS)[number];

/** The steps of an undelete of this plan's placement. */
export function undeleteSteps(plan: Pick<UndeletePlan, 'placement'>): readonly UndeleteStep[] {
  return plan.placement === 'instance' ? UNDELETE_STEPS : SHARED_UNDELETE_STEPS;
}

/** One of the tenant's secrets as the undelete found it: scheduled for deletion, or live already. */
export interface UndeleteSecret {
  name: string;
  /** The end of its recovery window when the undelete was asked for; null when it was live. */
  deletionDate: string | null;
}

/**
 * An undelete as recorded on its change row (`tenant_changes.plan`) when it is requested. Never a
 * secret: the passwords stay in the restored secrets.
 */
export type UndeletePlan = InstanceUndeletePlan | SharedUndeletePlan;

export interface InstanceUndeletePlan {
  placement: 'instance';
  region: string;
  /** The final snapshot of the tenant's deletion, restored into its own instance name. */
  finalSnapshot: string;
  instanceIdentifier: string;
  /** The master secret, then the app secret. */
  secrets: UndeleteSecret[];
  /** The earliest end of the secrets' recovery windows; null when none was scheduled. */
  recoveryWindowEndsAt: string | null;
}

export interface SharedUndeletePlan {
  placement: 'schema' | 'pool';
  region: string;
  /** The S3 export the tenant's deletion left: a schema's dump, or a pooled tenant's rows. */
  export: { bucket: string; key: string; kind: 'schema-dump' | 'rows' };
  /**
   * The tenant's schema version at its deletion: a schema tenant's ledger (kept apart from its
   * schema, so not in the dump) is made again up to it.
   */
  schemaVersion: string | null;
  /** A schema tenant's app secret; none for a pooled tenant. */
  secrets: UndeleteSecret[];
  recoveryWindowEndsAt: string | null;
  /** The host the `place` step reserved (HostAllocator.reserveForChange); set on the change row. */
  to?: { hostId?: string };
}
