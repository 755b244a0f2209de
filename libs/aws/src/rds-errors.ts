import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';

// Failures the RDS snapshot and restore adapters name themselves (the rest go through
// toProvisioningError).

/** A permanent refusal (AWS_REJECTED) in Silo's words. */
export function rejected(message: string, cause?: unknown): ProvisioningError {
  return new ProvisioningError(ProvisioningErrorCode.AWS_REJECTED, message, { cause });
}

/** A quota RDS reports as reached: permanent until an operator raises it or frees some. */
export function quota(operation: string, what: string, error: Error): ProvisioningError {
  return rejected(
    `${operation}: the account's quota of ${what} in this region is reached (${error.name}: ${error.message}); ` +
      'raise it or free some before trying again',
    error,
  );
}

/** Deleted between two calls: the next attempt starts over. */
export function goneMeanwhile(kind: string, identifier: string, cause: unknown): ProvisioningError {
  return new ProvisioningError(
    ProvisioningErrorCode.AWS_UNAVAILABLE,
    `${kind} ${identifier} was reported as existing, then not found`,
    { cause },
  );
}

/** The name of an error that has no SDK class (RDS's common `InvalidParameterValue`). */
export function errorName(error: unknown): string | undefined {
  return error && typeof error === 'object' ? (error as { name?: string }).name : undefined;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
