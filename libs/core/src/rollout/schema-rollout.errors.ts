/** Why a schema-rollout request was refused. A closed set; the API maps each to one status. */
export enum RolloutErrorCode {
  ROLLOUT_NOT_FOUND = 'ROLLOUT_NOT_FOUND',
  /** Another rollout is RUNNING or PAUSED. */
  ROLLOUT_ALREADY_OPEN = 'ROLLOUT_ALREADY_OPEN',
  /** Pause, resume or abort from a status that does not allow it. */
  ROLLOUT_ILLEGAL_STATE = 'ROLLOUT_ILLEGAL_STATE',
  /** The target is not a version of the tenant migrations. */
  INVALID_TARGET_VERSION = 'INVALID_TARGET_VERSION',
  /** `exclude` names an id or slug that is no tenant. */
  UNKNOWN_EXCLUDED_TENANTS = 'UNKNOWN_EXCLUDED_TENANTS',
  /** The tenant is not one of the rollout's. */
  ROLLOUT_TENANT_NOT_FOUND = 'ROLLOUT_TENANT_NOT_FOUND',
  /** Skipping a tenant that is migrating, already migrated or already skipped. */
  ROLLOUT_TENANT_ILLEGAL_STATE = 'ROLLOUT_TENANT_ILLEGAL_STATE',
}

export class RolloutError extends Error {
  override readonly name = 'RolloutError';
  constructor(
    readonly code: RolloutErrorCode,
    message: string,
    /** Extra members of the problem answer (e.g. the open rollout's id). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
