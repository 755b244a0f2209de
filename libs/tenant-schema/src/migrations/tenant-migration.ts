/** What a migration runs its SQL through: a pg client, or a TypeORM QueryRunner. */
export interface MigrationSession {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/**
 * One versioned migration of the tenant schema, from a SQL file or a compiled TypeORM
 * migration class. Applied in version order, each at most once per tenant database.
 */
export interface TenantMigration {
  /** As spelled in the file name (`0003`) or the class name's trailing timestamp. */
  readonly version: string;
  /** The numeric value of `version`: what orders and identifies it (`3` and `0003` are the same). */
  readonly order: bigint;
  /** `add_due_date` for `0002_add_due_date.sql`; the class name for TypeORM. */
  readonly name: string;
  /** The file name, or `<module>#<ClassName>`, for messages. */
  readonly source: string;
  /** SHA-256 (hex) of the file's bytes, or of the class's `up` method source. */
  readonly checksum: string;
  /**
   * False for files with `-- silo:no-transaction` in their leading comment block and TypeORM
   * classes with `transaction = false`.
   */
  readonly transactional: boolean;
  /**
   * Applies the migration through `session`. A transactional migration runs inside a
   * transaction the migrator opened; a non-transactional one statement by statement.
   */
  up(session: MigrationSession): Promise<void>;
}

/** How the migrator reaches the database for this set: plain pg, or TypeORM for migration classes. */
export type MigrationSetKind = 'sql' | 'typeorm';

/** A validated, ordered set of tenant migrations. */
export interface TenantMigrationSet {
  readonly kind: MigrationSetKind;
  /** The directory or module the set was loaded from. */
  readonly location: string;
  /** In version order, never empty. */
  readonly migrations: readonly TenantMigration[];
  /** The newest migration's version. */
  readonly newest: string;
}

/** The numeric value of a version string, or undefined when it is not one. */
export function versionOrder(version: string): bigint | undefined {
  return /^\d{1,18}$/.test(version) ? BigInt(version) : undefined;
}

/** The set's migration with this version (`3` finds `0003`), if any. */
export function findMigration(set: TenantMigrationSet, version: string): TenantMigration | undefined {
  const order = versionOrder(version);
  return order === undefined ? undefined : set.migrations.find((m) => m.order === order);
}

/** -1, 0 or 1 as version `a` is older than, the same as or newer than `b` (numerically). */
export function compareVersions(a: string, b: string): number {
  const x = versionOrder(a);
  const y = versionOrder(b);
  if (x === undefined || y === undefined) throw new Error(`not a schema version: ${x === undefined ? a : b}`);
  return x < y ? -1 : x > y ? 1 : 0;
}
