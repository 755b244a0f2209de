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
export type UndeleteStep = (typeof UNDELETE_STEPS)[number];

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
export interface UndeletePlan {
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
