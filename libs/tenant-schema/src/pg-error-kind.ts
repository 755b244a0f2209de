/** Node's socket errors: the database is away, not refusing. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * What a failure talking to PostgreSQL says about the server:
 * - `refused`: the server ran the statement and refused it (a SQLSTATE such as 42P07, 55P03,
 *   57014): running it again as it is gives the same answer;
 * - `transient`: the connection or the server went away, or the statement lost a race it may
 *   win next time (network errors, class 08, 53xxx resources, 57P01-57P03 shutdown and
 *   failover, 40001 serialization, 40P01 deadlock).
 */
export function pgErrorKind(error: unknown): 'refused' | 'transient' {
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (NETWORK_CODES.has(code)) return 'transient';
  if (/^[0-9A-Z]{5}$/.test(code)) {
    return code.startsWith('08') ||
      code.startsWith('53') ||
      /^57P0[1-3]$/.test(code) ||
      code === '40001' ||
      code === '40P01'
      ? 'transient'
      : 'refused';
  }
  return /timeout|terminated unexpectedly|Connection terminated/i.test(
    typeof e.message === 'string' ? e.message : '',
  )
    ? 'transient'
    : 'refused';
}

/** The SQLSTATE of an error the server sent (not a socket error code), if it is one. */
export function serverSqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !NETWORK_CODES.has(code)
    ? code
    : undefined;
}
