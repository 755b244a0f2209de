import { assertNever } from '../tenant/tenant.errors';

/** Why a provisioning or deprovisioning step did not succeed. A closed set. */
export enum ProvisioningErrorCode {
  /** Throttling, 5xx or a network failure talking to AWS (after the SDK's own retries). */
  AWS_UNAVAILABLE = 'AWS_UNAVAILABLE',
  /** AWS refused the request (validation, quota, permissions): retrying the same call cannot help. */
  AWS_REJECTED = 'AWS_REJECTED',
  /** An instance, secret or alarm with our name exists but belongs to someone else. */
  RESOURCE_NAME_TAKEN = 'RESOURCE_NAME_TAKEN',
  /** RDS reports a state the instance does not leave on its own. */
  INSTANCE_TERMINAL_STATE = 'INSTANCE_TERMINAL_STATE',
  /** Provisioning ran past its deadline. */
  DEADLINE_EXCEEDED = 'DEADLINE_EXCEEDED',
  /** A step kept failing with retryable errors until its attempts ran out. */
  RETRIES_EXHAUSTED = 'RETRIES_EXHAUSTED',
  /** The tenant database did not answer (not up yet, network). */
  DATABASE_UNAVAILABLE = 'DATABASE_UNAVAILABLE',
  /** The tenant database refused what Silo asked of it. */
  DATABASE_REJECTED = 'DATABASE_REJECTED',
  /** Stored state that a step relies on is missing or malformed (e.g. a secret without a password). */
  INCONSISTENT_STATE = 'INCONSISTENT_STATE',
  /** An operator aborted the move before its cut-over. */
  MOVE_ABORTED = 'MOVE_ABORTED',
  /**
   * A move's copy cannot finish: the target refuses the tenant's rows (a key it already holds),
   * or the two sides' rows differ at the cut-over.
   */
  MOVE_COPY_FAILED = 'MOVE_COPY_FAILED',
  /** A move's cut-over could not hold the tenant's writes (its open transactions did not end in time). */
  MOVE_CUTOVER_BUSY = 'MOVE_CUTOVER_BUSY',
}

export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
  constructor(
    readonly code: ProvisioningErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get retryable(): boolean {
    return isRetryable(this.code);
  }
}

/** Whether a step that failed with `code` may be tried again. */
export function isRetryable(code: ProvisioningErrorCode): boolean {
  switch (code) {
    case ProvisioningErrorCode.AWS_UNAVAILABLE:
    case ProvisioningErrorCode.DATABASE_UNAVAILABLE:
    case ProvisioningErrorCode.MOVE_CUTOVER_BUSY:
      return true;
    case ProvisioningErrorCode.AWS_REJECTED:
    case ProvisioningErrorCode.RESOURCE_NAME_TAKEN:
    case ProvisioningErrorCode.INSTANCE_TERMINAL_STATE:
    case ProvisioningErrorCode.DEADLINE_EXCEEDED:
    case ProvisioningErrorCode.RETRIES_EXHAUSTED:
    case ProvisioningErrorCode.DATABASE_REJECTED:
    case ProvisioningErrorCode.INCONSISTENT_STATE:
    case ProvisioningErrorCode.MOVE_ABORTED:
    case ProvisioningErrorCode.MOVE_COPY_FAILED:
      return false;
    default:
      return assertNever(code, 'provisioning error code');
  }
}
