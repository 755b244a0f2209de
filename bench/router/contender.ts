import type { TenantDirectoryEntry } from '@silo/tenant-router';
import { NoteEntity } from '@silo/tenant-schema';
import type { DataSource, DataSourceOptions, EntityManager } from 'typeorm';

/** The three contenders, and a reference for the warm workload. */
export type ContenderKey = 'a' | 'b' | 'c' | 'ref' | 'ref1';

/** One way of reaching a tenant's database, driven the same way by every workload. */
export interface Contender {
  readonly key: ContenderKey;
  /** application_name of its connections, as pg_stat_activity shows them. */
  readonly applicationName: string;
  /** The request: the tenant's ten newest notes through its DataSource. */
  request(tenantId: string): Promise<void>;
  /** The lookup a request pays before its query (a cached tenant: no I/O), for the overhead loop. */
  lookup(tenantId: string): Promise<void>;
  /** DataSource initialisations started so far (successful or not). */
  initialisations(): number;
  /** Anything else worth a line under the table (evictions, secret fetches…). */
  notes(): string;
  /** Closes every DataSource it opened. */
  close(): Promise<void>;
}

export const CONTENDER_LABELS: Record<ContenderKey, string> = {
  a: '(a) naive Map',
  b: '(b) one shared DataSource',
  c: '(c) TenantRouter',
  ref: '    pre-opened Map (reference)',
  ref1: '    same connections, one database',
};

/**
 * The same query for every contender: ORDER BY id DESC LIMIT 10 on `notes`, found through the
 * session's search_path. With `tenantId` (the mixed fleet) it also reads `tenant_id` and checks
 * that every note is that tenant's: row-level security let through none of another's.
 */
export async function readNewestNotes(from: DataSource | EntityManager, tenantId?: string): Promise<void> {
  const notes = await from.getRepository(NoteEntity).find({
    select: { id: true, text: true, tenantId: tenantId !== undefined },
    order: { id: 'DESC' },
    take: 10,
  });
  if (notes.length !== 10) throw new WrongResultError(`expected 10 notes, got ${notes.length}`);
  if (tenantId !== undefined && notes.some((note) => note.tenantId !== tenantId))
    throw new WrongResultError(`a note of another tenant reached tenant ${tenantId}`);
}

/**
 * The startup options a DataSource the bench builds itself sends, as the router sends them: the
 * search path of the tenant's schema (`app` but for a schema tenant) and, for a tenant, its id as
 * `app.tenant_id`, which row-level security reads. Bench roles have no role defaults, so without
 * them no contender would find `notes` or see a row.
 */
export function startupOptionsOf(entry: TenantDirectoryEntry | undefined): string {
  const schema = entry?.placement?.kind === 'schema' ? entry.placement.schema : 'app';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`unexpected schema name ${schema}`);
  return entry === undefined
    ? `-c search_path=${schema}`
    : `-c search_path=${schema} -c app.tenant_id=${entry.id}`;
}

export class WrongResultError extends Error {
  override readonly name = 'WrongResultError';
  readonly code = 'WRONG_RESULT';
}

/** Options shared by the DataSources the bench builds itself, (a) and (b). */
export function postgresOptions(options: {
  host: string;
  port: number;
  database: string;
  username: string;
  password?: string;
  applicationName: string;
  /** libpq-style startup options (`-c name=value …`), see {@link startupOptionsOf}. */
  startup: string;
  extra?: Record<string, unknown>;
}): DataSourceOptions {
  return {
    type: 'postgres',
    host: options.host,
    port: options.port,
    database: options.database,
    username: options.username,
    password: options.password,
    entities: [NoteEntity],
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: options.applicationName,
    extra: { ...options.extra, options: options.startup },
  };
}
