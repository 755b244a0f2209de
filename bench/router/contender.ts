import { NoteEntity } from '@silo/tenant-schema';
import type { DataSource, DataSourceOptions } from 'typeorm';

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

/** The same query for every contender: ORDER BY id DESC LIMIT 10 on app.notes. */
export async function readNewestNotes(dataSource: DataSource): Promise<void> {
  const notes = await dataSource
    .getRepository(NoteEntity)
    .find({ select: { id: true, text: true }, order: { id: 'DESC' }, take: 10 });
  if (notes.length !== 10) throw new WrongResultError(`expected 10 notes, got ${notes.length}`);
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
    extra: options.extra,
  };
}
