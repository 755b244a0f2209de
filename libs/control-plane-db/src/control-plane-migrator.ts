import { quoteIdentifier } from '@silo/core';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { controlPlaneDataSourceOptions } from './control-plane-data-source';

export interface MigrateOptions {
  url: string;
  connectTimeoutMs?: number;
  /** Create the database first when it does not exist (development convenience). */
  createDatabase?: boolean;
  /**
   * The deployment's default region (AWS_REGION): tenants and hosts made before regions existed
   * (region NULL) are pinned to it after the migrations, in the same lock. Unset: left NULL,
   * which the code reads as the default region.
   */
  defaultRegion?: string;
}

export interface MigrateResult {
  createdDatabase: boolean;
  applied: string[];
}

const MIGRATION_LOCK_KEY = 'silo:control-plane-migrations';

/**
 * Applies pending control-plane migrations. Safe to run from several processes at once: they
 * queue on a PostgreSQL advisory lock, and the later ones find nothing left to apply.
 */
export async function migrateControlPlane(options: MigrateOptions): Promise<MigrateResult> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const createdDatabase = options.createDatabase
    ? await ensureDatabase(options.url, connectTimeoutMs)
    : false;
  const dataSource = new DataSource(
    controlPlaneDataSourceOptions({
      url: options.url,
      poolMax: 2,
      connectTimeoutMs,
      applicationName: 'silo-migrate',
    }),
  );
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      if (options.defaultRegion) await pinDefaultRegion(dataSource, options.defaultRegion);
      return { createdDatabase, applied: applied.map((m) => m.name) };
    } finally {
      await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await lock.release();
    await dataSource.destroy();
  }
}

/** Tenants and hosts without a region (made before regions existed) get `region`. */
export async function pinDefaultRegion(dataSource: DataSource, region: string): Promise<void> {
  await dataSource.query(`UPDATE tenants SET region = $1 WHERE region IS NULL`, [region]);
  await dataSource.query(`UPDATE hosts SET region = $1 WHERE region IS NULL`, [region]);
}

/** Creates the database named in `url` when missing. Returns whether it created it. */
export async function ensureDatabase(url: string, connectTimeoutMs = 5000): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const quoted = quoteIdentifier(name, 'database name');
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new Client({
    connectionString: maintenance.toString(),
    connectionTimeoutMillis: connectTimeoutMs,
  });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${quoted}`);
    } catch (error) {
      // Another process created it between the check and here (42P04, or 23505 when both
      // CREATE DATABASE statements ran at once).
      const code = (error as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw error;
    }
    return true;
  } finally {
    await client.end();
  }
}
