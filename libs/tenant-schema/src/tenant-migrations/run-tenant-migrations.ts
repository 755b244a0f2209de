import { DataSource } from 'typeorm';
import { DEFAULT_CONNECT_TIMEOUT_MS, type PgEndpoint } from '../pg-endpoint';
import { TENANT_MIGRATIONS } from './tenant-migrations';

export interface TenantMigrationResult {
  /** Names of the migrations this call applied, in order. */
  applied: string[];
  /** Name of the newest migration applied to the database, by this call or before. */
  schemaVersion: string;
}

export const TENANT_MIGRATIONS_TABLE = 'silo_schema_migrations';
const MIGRATION_LOCK_KEY = 'silo:tenant-schema-migrations';

/**
 * Applies pending tenant migrations as the database owner, each in its own transaction.
 * Idempotent, and safe to run from several processes at once: they queue on an advisory lock
 * (scoped to this database) and the later ones find nothing left to apply.
 */
export async function runTenantMigrations(owner: PgEndpoint): Promise<TenantMigrationResult> {
  const dataSource = new DataSource({
    type: 'postgres',
    host: owner.host,
    port: owner.port,
    database: owner.database,
    username: owner.user,
    password: owner.password,
    ssl: owner.ssl ?? false,
    // The migrations table lives in public whatever the owner's search_path says.
    schema: 'public',
    migrations: TENANT_MIGRATIONS,
    migrationsTableName: TENANT_MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: 'silo-tenant-migrations',
    extra: { max: 2, connectionTimeoutMillis: owner.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS },
  });
  await dataSource.initialize();
  try {
    const lock = dataSource.createQueryRunner();
    try {
      await lock.connect();
      await lock.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK_KEY]);
      try {
        const applied = await dataSource.runMigrations({ transaction: 'each' });
        const newest = (await lock.query(
          `SELECT name FROM public.${TENANT_MIGRATIONS_TABLE} ORDER BY timestamp DESC, id DESC LIMIT 1`,
        )) as Array<{ name: string }>;
        const schemaVersion = newest[0]?.name;
        if (schemaVersion === undefined) throw new Error('no tenant migration is recorded after migrating');
        return { applied: applied.map((m) => m.name), schemaVersion };
      } finally {
        await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK_KEY]);
      }
    } finally {
      await lock.release();
    }
  } finally {
    await dataSource.destroy();
  }
}
