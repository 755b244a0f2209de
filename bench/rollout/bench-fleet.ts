import { spawn } from 'node:child_process';
import type { TenantSecrets } from '@silo/aws';
import { quoteIdentifier } from '@silo/core';
import { materialiseLocalInstance, migrateTenantSchema, type TenantMigrationSet } from '@silo/tenant-schema';
import { Client, type ClientConfig } from 'pg';
import type { DataSource } from 'typeorm';
import { createFleet, type FleetTenant } from '../../libs/fleet/test/rollout-fleet';
import { withAdmin } from '../provisioning/bench-cleanup';
import { databaseUrl } from '../provisioning/bench-environment';
import { forEachLimited } from './for-each-limited';
import { FROM_VERSION, POSTGRES_ADMIN_URL } from './rollout-environment';

export type { FleetTenant };

/** Tenants per createFleet call: an interrupt waits for one batch at most. */
const BATCH_PER_CONNECTION = 10;
const PROGRESS_MS = 10_000;

/**
 * `count` ACTIVE starter tenants at FROM_VERSION through the test suite's fleet fixture: database
 * and owner role on the local PostgreSQL, master secret in the emulator, control-plane row. The
 * cleanup finds what an interrupted call made by the resource prefix.
 */
export async function createBenchFleet(options: {
  dataSource: DataSource;
  secrets: TenantSecrets;
  prefix: string;
  count: number;
  set: TenantMigrationSet;
  concurrency: number;
  signal: AbortSignal;
  log: (line: string) => void;
}): Promise<FleetTenant[]> {
  const made: FleetTenant[] = [];
  const progress = setInterval(
    () => options.log(`  ${made.length} of ${options.count} tenants`),
    PROGRESS_MS,
  );
  try {
    while (made.length < options.count) {
      options.signal.throwIfAborted();
      made.push(
        ...(await createFleet({
          dataSource: options.dataSource,
          secrets: options.secrets,
          prefix: options.prefix,
          environment: 'bench',
          tier: 'starter',
          count: Math.min(options.count - made.length, options.concurrency * BATCH_PER_CONNECTION),
          version: FROM_VERSION,
          set: options.set,
          registry: [],
          concurrency: options.concurrency,
          adminUrl: POSTGRES_ADMIN_URL,
        })),
      );
    }
  } finally {
    clearInterval(progress);
  }
  return made;
}

/** Puts `notes` rows into every tenant's app.notes, as its owner. */
export async function seedNotes(options: {
  tenants: readonly FleetTenant[];
  notes: number;
  concurrency: number;
  signal: AbortSignal;
}): Promise<void> {
  if (options.notes === 0) return;
  await forEachLimited(
    options.tenants,
    options.concurrency,
    async (t) => {
      const client = new Client({ ...ownerConfig(t), application_name: 'silo-bench-seed' });
      client.on('error', () => undefined);
      await client.connect();
      try {
        await client.query(
          `INSERT INTO app.notes (text, created_at)
           SELECT 'note ' || g, now() - g * interval '1 second' FROM generate_series(1, $1::int) g`,
          [options.notes],
        );
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    options.signal,
  );
}

/** A pg client configuration for the tenant's database as its owner. */
export function ownerConfig(t: FleetTenant): ClientConfig {
  return {
    host: t.owner.host,
    port: t.owner.port,
    database: t.owner.database,
    user: t.owner.user,
    password: t.owner.password,
    connectionTimeoutMillis: 10_000,
  };
}

/**
 * Drops every tenant's database and makes it again as the fleet fixture does (same name, owner
 * role and password, so the master secret and the control-plane row stay right), at FROM_VERSION.
 */
export async function recreateFleet(options: {
  tenants: readonly FleetTenant[];
  set: TenantMigrationSet;
  concurrency: number;
  signal: AbortSignal;
}): Promise<void> {
  await forEachLimited(
    options.tenants,
    options.concurrency,
    async (t) => {
      await withAdmin(POSTGRES_ADMIN_URL, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(t.owner.database)} WITH (FORCE)`),
      );
      await materialiseLocalInstance(POSTGRES_ADMIN_URL, {
        database: t.owner.database,
        ownerRole: t.owner.user,
        ownerPassword: t.owner.password,
      });
      await migrateTenantSchema(t.owner, options.set, {
        target: FROM_VERSION,
        lockTimeoutMs: 3000,
        statementTimeoutMs: 30_000,
        appliedBy: 'fixture',
        tenant: t.slug,
      });
    },
    options.signal,
  );
}

/**
 * CHECKPOINT, then sync(1): every dirty buffer and every dirty page of the set-up's writes (and
 * of dropped databases' files) is on disk before a contender starts, so none pays for them.
 */
export async function checkpoint(): Promise<void> {
  await withAdmin(POSTGRES_ADMIN_URL, (client) => client.query('CHECKPOINT'));
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sync', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sync exited with ${code}`))));
  });
}

export interface LedgerRow {
  version: string;
  durationMs: number;
  appliedBy: string;
}

/**
 * Checks, as the superuser, that every tenant database has what 0002 and 0003 make (app.notes.due_date,
 * app.tags, a valid notes_due_date_idx) and that its ledger lists exactly `ledgerVersions`; returns
 * each tenant's ledger, in the tenants' order. Throws naming the first tenants that differ.
 */
export async function verifyFleet(options: {
  tenants: readonly FleetTenant[];
  ledgerVersions: readonly string[];
  concurrency: number;
  signal: AbortSignal;
}): Promise<LedgerRow[][]> {
  const ledgers: LedgerRow[][] = new Array<LedgerRow[]>(options.tenants.length);
  const wrong: string[] = [];
  await forEachLimited(
    options.tenants,
    options.concurrency,
    async (t, i) => {
      const client = new Client({
        connectionString: databaseUrl(POSTGRES_ADMIN_URL, t.owner.database),
        connectionTimeoutMillis: 10_000,
        application_name: 'silo-bench-verify',
      });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const schema = await client.query<{ due_date: boolean; tags: boolean; index_valid: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM information_schema.columns
                           WHERE table_schema = 'app' AND table_name = 'notes' AND column_name = 'due_date') AS due_date,
                  to_regclass('app.tags') IS NOT NULL AS tags,
                  coalesce((SELECT indisvalid FROM pg_index
                             WHERE indexrelid = to_regclass('app.notes_due_date_idx')), false) AS index_valid`,
        );
        const ledger = await client.query<{ version: string; duration_ms: number; applied_by: string }>(
          'SELECT version, duration_ms, applied_by FROM public.silo_schema_ledger ORDER BY version',
        );
        ledgers[i] = ledger.rows.map((r) => ({
          version: r.version,
          durationMs: r.duration_ms,
          appliedBy: r.applied_by,
        }));
        const { due_date, tags, index_valid } = schema.rows[0];
        const versions = ledgers[i].map((r) => r.version).join(',');
        if (!due_date || !tags || !index_valid || versions !== options.ledgerVersions.join(',')) {
          wrong.push(
            `${t.slug}: due_date ${due_date}, app.tags ${tags}, valid notes_due_date_idx ${index_valid}, ledger [${versions}]`,
          );
        }
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    options.signal,
  );
  if (wrong.length) {
    throw new Error(
      `${wrong.length} tenant database(s) are not as expected (ledger [${options.ledgerVersions.join(',')}]):\n  ` +
        wrong.slice(0, 5).join('\n  '),
    );
  }
  return ledgers;
}
