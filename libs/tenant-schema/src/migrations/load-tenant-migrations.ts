import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { QueryRunner } from 'typeorm';
import { splitSqlStatements } from './sql-statements';
import type { TenantMigration, TenantMigrationSet } from './tenant-migration';

/** The migrations Silo ships: the example tenant app's schema (`app.notes`). */
export const BUILT_IN_TENANT_MIGRATIONS_DIR = resolve(__dirname, '../../migrations');

/** `0002_add_due_date.sql`: a number, an underscore, a name. */
const SQL_FILE = /^(\d{1,18})_([A-Za-z0-9][A-Za-z0-9_-]{0,99})\.sql$/;
const NO_TRANSACTION = '-- silo:no-transaction';
/** TypeORM's convention: the class name ends with its 13-digit creation timestamp. */
const TYPEORM_NAME = /^([A-Za-z_$][\w$]*?)(\d{13})$/;

/** Every problem of a migration set, in one message. */
export class TenantMigrationSetError extends Error {
  override readonly name = 'TenantMigrationSetError';
  constructor(
    readonly location: string,
    readonly problems: string[],
  ) {
    super(`tenant migrations in ${location} are not usable: ${problems.join('; ')}`);
  }
}

export interface TenantMigrationSource {
  /** A directory of `NNNN_name.sql` files. */
  dir?: string;
  /** A compiled JS module exporting an array of TypeORM migration classes. */
  module?: string;
}

/**
 * Loads and validates the tenant migrations: the SQL directory, the TypeORM module, or, with
 * neither, {@link BUILT_IN_TENANT_MIGRATIONS_DIR}. Throws one {@link TenantMigrationSetError}
 * naming every problem (a missing directory, unparsable or duplicate versions, an empty set).
 */
export function loadTenantMigrations(source: TenantMigrationSource = {}): TenantMigrationSet {
  if (source.dir && source.module) {
    throw new TenantMigrationSetError(source.dir, ['give a migrations directory or a module, not both']);
  }
  return source.module
    ? loadTypeormModule(source.module)
    : loadSqlDirectory(source.dir ?? BUILT_IN_TENANT_MIGRATIONS_DIR);
}

function loadSqlDirectory(dir: string): TenantMigrationSet {
  const location = resolve(dir);
  let entries: string[];
  try {
    if (!statSync(location).isDirectory())
      throw new TenantMigrationSetError(location, ['it is not a directory']);
    entries = readdirSync(location).sort();
  } catch (error) {
    if (error instanceof TenantMigrationSetError) throw error;
    throw new TenantMigrationSetError(location, [
      `the directory cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    ]);
  }
  const problems: string[] = [];
  const migrations: TenantMigration[] = [];
  for (const file of entries) {
    if (!file.toLowerCase().endsWith('.sql')) continue;
    const match = SQL_FILE.exec(file);
    if (!match) {
      problems.push(
        `${file}: not a migration file name (want <number>_<name>.sql, e.g. 0002_add_due_date.sql)`,
      );
      continue;
    }
    const bytes = readFileSync(join(location, file));
    const text = bytes.toString('utf8');
    const statements = splitSqlStatements(text);
    if (!statements.length) {
      problems.push(`${file}: holds no SQL statement`);
      continue;
    }
    const marker = noTransactionMarker(text);
    if (marker.misplaced.length) {
      problems.push(
        ...marker.misplaced.map(
          (line) =>
            `${file}:${line}: "${NO_TRANSACTION}" counts only in the leading comment block (the -- and blank lines before the first statement); move it there or remove it`,
        ),
      );
      continue;
    }
    const transactional = !marker.leading;
    migrations.push({
      version: match[1],
      order: BigInt(match[1]),
      name: match[2],
      source: file,
      checksum: sha256(bytes),
      transactional,
      up: transactional
        ? async (session) => {
            await session.query(text);
          }
        : async (session) => {
            for (const statement of statements) await session.query(statement);
          },
    });
  }
  return validated('sql', location, migrations, problems);
}

/**
 * Where a file carries `-- silo:no-transaction`: in its leading comment block (the `--` lines
 * and blank lines before the first statement), where it counts, or on lines after that, where
 * it would silently not count (their 1-based numbers).
 */
function noTransactionMarker(text: string): { leading: boolean; misplaced: number[] } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let leading = false;
  let inHeader = true;
  const misplaced: number[] = [];
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (inHeader && (line === '' || line.startsWith('--'))) {
      if (line === NO_TRANSACTION) leading = true;
      return;
    }
    inHeader = false;
    if (line === NO_TRANSACTION) misplaced.push(index + 1);
  });
  return { leading, misplaced };
}

type MigrationClass = new () => {
  name?: string;
  transaction?: boolean;
  /** Silo's addition: a fixed checksum, so that a compiler upgrade does not change it. */
  checksum?: string;
  up(queryRunner: QueryRunner): Promise<unknown>;
};

function loadTypeormModule(modulePath: string): TenantMigrationSet {
  const location = resolve(modulePath);
  let exported: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exported = require(location) as unknown;
  } catch (error) {
    throw new TenantMigrationSetError(location, [
      `the module cannot be loaded (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
    ]);
  }
  const list = migrationClassList(exported);
  if (!list) {
    throw new TenantMigrationSetError(location, [
      'the module must export an array of migration classes (module.exports = [...], `export default [...]` or `export const migrations = [...]`)',
    ]);
  }
  const problems: string[] = [];
  const migrations: TenantMigration[] = [];
  list.forEach((entry, index) => {
    if (typeof entry !== 'function') {
      problems.push(`entry ${index}: not a class`);
      return;
    }
    const Migration = entry as MigrationClass;
    const instance = new Migration();
    const name = instance.name ?? Migration.name;
    const match = TYPEORM_NAME.exec(name);
    if (!match) {
      problems.push(
        `${name || `entry ${index}`}: the class name must end with a 13-digit timestamp (TypeORM's convention)`,
      );
      return;
    }
    if (typeof instance.up !== 'function') {
      problems.push(`${name}: has no up() method`);
      return;
    }
    migrations.push({
      version: match[2],
      order: BigInt(match[2]),
      name,
      source: `${basename(location)}#${name}`,
      // up()'s compiled source changes with the compiler: a class may pin its own checksum.
      checksum: instance.checksum ?? sha256(Buffer.from(instance.up.toString(), 'utf8')),
      transactional: instance.transaction !== false,
      up: async (session) => {
        await instance.up(session as QueryRunner);
      },
    });
  });
  return validated('typeorm', location, migrations, problems);
}

function migrationClassList(exported: unknown): unknown[] | undefined {
  if (Array.isArray(exported)) return exported as unknown[];
  if (typeof exported === 'object' && exported !== null) {
    const record = exported as Record<string, unknown>;
    for (const key of ['default', 'migrations'])
      if (Array.isArray(record[key])) return record[key] as unknown[];
  }
  return undefined;
}

function validated(
  kind: TenantMigrationSet['kind'],
  location: string,
  found: TenantMigration[],
  problems: string[],
): TenantMigrationSet {
  const byOrder = new Map<bigint, TenantMigration[]>();
  for (const m of found) byOrder.set(m.order, [...(byOrder.get(m.order) ?? []), m]);
  for (const same of byOrder.values()) {
    if (same.length > 1)
      problems.push(`version ${same[0].version} is given twice (${same.map((m) => m.source).join(', ')})`);
  }
  if (!found.length && !problems.length) {
    problems.push(kind === 'sql' ? 'no migration file (<number>_<name>.sql) in it' : 'the array is empty');
  }
  if (problems.length) throw new TenantMigrationSetError(location, problems);
  const migrations = [...found].sort((a, b) => (a.order < b.order ? -1 : 1));
  return { kind, location, migrations, newest: migrations[migrations.length - 1].version };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
