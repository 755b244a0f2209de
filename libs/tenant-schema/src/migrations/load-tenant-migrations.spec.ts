import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BUILT_IN_TENANT_MIGRATIONS_DIR,
  loadTenantMigrations,
  TenantMigrationSetError,
} from './load-tenant-migrations';
import { compareVersions, findMigration } from './tenant-migration';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-set-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof TenantMigrationSetError) return error.problems;
    throw error;
  }
  throw new Error('expected the set to be refused');
}

describe('loadTenantMigrations', () => {
  it('loads the built-in set when given nothing', () => {
    const set = loadTenantMigrations();
    expect(set).toMatchObject({ kind: 'sql', location: BUILT_IN_TENANT_MIGRATIONS_DIR, newest: '0002' });
    expect(set.migrations.map((m) => [m.version, m.name, m.transactional])).toEqual([
      ['0001', 'create_notes', true],
      ['0002', 'notes_tenant_id', true],
    ]);
  });

  it('orders by number, not by spelling, and finds a version however it is padded', () => {
    const set = loadTenantMigrations({
      dir: dirWith({ '10_ten.sql': 'SELECT 10;', '9_nine.sql': 'SELECT 9;', 'README.md': 'not a migration' }),
    });
    expect(set.migrations.map((m) => m.version)).toEqual(['9', '10']);
    expect(set.newest).toBe('10');
    expect(findMigration(set, '0010')?.name).toBe('ten');
    expect(findMigration(set, '11')).toBeUndefined();
    expect(compareVersions('0003', '3')).toBe(0);
    expect(compareVersions('0002', '0010')).toBe(-1);
  });

  it('reads the no-transaction marker anywhere in the leading comment block', () => {
    const set = loadTenantMigrations({
      dir: dirWith({
        '1_first_line.sql': '-- silo:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);',
        '2_after_comments.sql':
          '-- Build the index without locking writes.\r\n\r\n--   silo:no-transaction is below\r\n  -- silo:no-transaction  \r\nCREATE INDEX CONCURRENTLY j ON t (c);\r\n',
        '3_after_bom.sql': '\uFEFF-- silo:no-transaction\nSELECT 1;',
        '4_plain.sql': '-- a comment\nSELECT 1;\n-- silo:no-transaction is not a marker with more words\n',
        '5_block_comment_first.sql': '/* header */ SELECT 1;',
      }),
    });
    expect(set.migrations.map((m) => [m.name, m.transactional])).toEqual([
      ['first_line', false],
      ['after_comments', false],
      ['after_bom', false],
      ['plain', true],
      ['block_comment_first', true],
    ]);
  });

  it('refuses a no-transaction marker after the leading comment block, naming the file and line', () => {
    const dir = dirWith({
      '1_good.sql': 'SELECT 1;',
      '2_after_statement.sql': '-- adds c\nSELECT 1;\n\n-- silo:no-transaction\nSELECT 2;\n',
      '3_after_block_comment.sql': '/* why */\n-- silo:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);',
      '4_inside_statement.sql': 'CREATE TABLE t (\n  c int\n  -- silo:no-transaction\n);',
    });
    expect(problemsOf(() => loadTenantMigrations({ dir }))).toEqual([
      '2_after_statement.sql:4: "-- silo:no-transaction" counts only in the leading comment block (the -- and blank lines before the first statement); move it there or remove it',
      '3_after_block_comment.sql:2: "-- silo:no-transaction" counts only in the leading comment block (the -- and blank lines before the first statement); move it there or remove it',
      '4_inside_statement.sql:3: "-- silo:no-transaction" counts only in the leading comment block (the -- and blank lines before the first statement); move it there or remove it',
    ]);
  });

  it('checksums the file bytes with SHA-256', () => {
    const a = loadTenantMigrations({ dir: dirWith({ '1_a.sql': 'SELECT 1;' }) });
    const b = loadTenantMigrations({ dir: dirWith({ '1_a.sql': 'SELECT 1; ' }) });
    expect(a.migrations[0].checksum).toBe(createHash('sha256').update('SELECT 1;').digest('hex'));
    expect(a.migrations[0].checksum).not.toBe(b.migrations[0].checksum);
  });

  it('names every problem of a set in one error', () => {
    const dir = dirWith({
      '0001_first.sql': 'SELECT 1;',
      '1_again.sql': 'SELECT 1;',
      'v2_bad-name.sql': 'SELECT 2;',
      '0003_empty.sql': '-- nothing here\n',
    });
    expect(problemsOf(() => loadTenantMigrations({ dir }))).toEqual([
      '0003_empty.sql: holds no SQL statement',
      'v2_bad-name.sql: not a migration file name (want <number>_<name>.sql, e.g. 0002_add_due_date.sql)',
      'version 0001 is given twice (0001_first.sql, 1_again.sql)',
    ]);
  });

  it('refuses a missing directory, a file in its place and an empty one', () => {
    expect(problemsOf(() => loadTenantMigrations({ dir: join(tmpdir(), 'silo-no-such-dir') }))).toEqual([
      'the directory cannot be read (ENOENT)',
    ]);
    const dir = dirWith({ 'x.txt': '' });
    expect(problemsOf(() => loadTenantMigrations({ dir: join(dir, 'x.txt') }))).toEqual([
      'it is not a directory',
    ]);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(problemsOf(() => loadTenantMigrations({ dir: empty }))).toEqual([
      'no migration file (<number>_<name>.sql) in it',
    ]);
  });

  it('loads TypeORM classes from a module exporting an array, and refuses what is not one', () => {
    const dir = dirWith({
      'good.js': `class AddThing1700000000000 { async up(q) { await q.query('SELECT 1'); } }
        class NoTx1700000000001 { transaction = false; async up(q) {} }
        module.exports = { migrations: [AddThing1700000000000, NoTx1700000000001] };`,
      'bad.js': `class NoTimestamp { async up() {} } module.exports = [NoTimestamp, 42];`,
      'object.js': `module.exports = { up() {} };`,
    });
    const set = loadTenantMigrations({ module: join(dir, 'good.js') });
    expect(set.kind).toBe('typeorm');
    expect(set.migrations.map((m) => [m.version, m.name, m.transactional])).toEqual([
      ['1700000000000', 'AddThing1700000000000', true],
      ['1700000000001', 'NoTx1700000000001', false],
    ]);
    expect(problemsOf(() => loadTenantMigrations({ module: join(dir, 'bad.js') }))).toEqual([
      "NoTimestamp: the class name must end with a 13-digit timestamp (TypeORM's convention)",
      'entry 1: not a class',
    ]);
    expect(problemsOf(() => loadTenantMigrations({ module: join(dir, 'object.js') }))[0]).toMatch(
      /must export an array of migration classes/,
    );
    expect(problemsOf(() => loadTenantMigrations({ dir, module: join(dir, 'good.js') }))).toEqual([
      'give a migrations directory or a module, not both',
    ]);
  });
});
