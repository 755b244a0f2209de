/**
 * PostgreSQL identifiers that Silo builds into SQL (database, role and schema names) are first
 * checked against this conservative pattern, then double-quoted. 63 bytes is PostgreSQL's limit.
 */
export const SQL_IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;

export class InvalidSqlIdentifierError extends Error {
  override readonly name = 'InvalidSqlIdentifierError';
}

/** Returns `"name"` for a valid identifier; throws {@link InvalidSqlIdentifierError} otherwise. */
export function quoteIdentifier(name: string, what = 'identifier'): string {
  if (!SQL_IDENTIFIER_PATTERN.test(name)) {
    throw new InvalidSqlIdentifierError(
      `${what} ${JSON.stringify(name.slice(0, 80))} is not a valid SQL identifier: use 1-63 of A-Z, a-z, 0-9, _ and -, starting with a letter or _`,
    );
  }
  return `"${name}"`;
}
