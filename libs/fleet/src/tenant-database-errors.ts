import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { pgErrorKind } from '@silo/tenant-schema';

/**
 * A failure talking to a tenant database as a {@link ProvisioningError}: connection trouble
 * (see pgErrorKind: network, class 08, 53xxx, 57P01-57P03, 40001, 40P01) is retryable; anything
 * else the server refused is not. Messages never include credentials.
 */
export function classifyPgError(error: unknown, doing: string): ProvisioningError {
  if (error instanceof ProvisioningError) return error;
  const e = (error ?? {}) as { code?: string; message?: string };
  const code = e.code ?? '';
  const unavailable = pgErrorKind(error) === 'transient';
  return new ProvisioningError(
    unavailable ? ProvisioningErrorCode.DATABASE_UNAVAILABLE : ProvisioningErrorCode.DATABASE_REJECTED,
    `${doing} failed: ${code ? `${code} ` : ''}${e.message ?? String(error)}`,
    { cause: error },
  );
}
