import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';

const UNAVAILABLE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * A failure talking to a tenant database as a {@link ProvisioningError}: connection trouble
 * (network, SQLSTATE class 08, 57P03 cannot_connect_now, 53xxx resources) is retryable; anything
 * else the server refused is not. Messages never include credentials.
 */
export function classifyPgError(error: unknown, doing: string): ProvisioningError {
  if (error instanceof ProvisioningError) return error;
  const e = (error ?? {}) as { code?: string; message?: string };
  const code = e.code ?? '';
  // A SQLSTATE decides by its class: a lock or statement timeout (55P03, 57014) is the server
  // refusing, not the database being away, whatever its message says.
  const sqlState = !UNAVAILABLE_NETWORK_CODES.has(code) && /^[0-9A-Z]{5}$/.test(code);
  const unavailable = sqlState
    ? code.startsWith('08') || code === '57P03' || code.startsWith('53')
    : UNAVAILABLE_NETWORK_CODES.has(code) ||
      /timeout|terminated unexpectedly|Connection terminated/i.test(e.message ?? '');
  return new ProvisioningError(
    unavailable ? ProvisioningErrorCode.DATABASE_UNAVAILABLE : ProvisioningErrorCode.DATABASE_REJECTED,
    `${doing} failed: ${code ? `${code} ` : ''}${e.message ?? String(error)}`,
    { cause: error },
  );
}
