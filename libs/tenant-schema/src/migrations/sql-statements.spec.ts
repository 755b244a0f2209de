import { splitSqlStatements } from './sql-statements';

describe('splitSqlStatements', () => {
  it('splits at top-level semicolons and drops comment-only statements', () => {
    expect(splitSqlStatements('-- header\nSELECT 1;\n\n/* only a comment */;\nSELECT 2')).toEqual([
      '-- header\nSELECT 1',
      'SELECT 2',
    ]);
  });

  it('keeps semicolons inside strings, identifiers, dollar quotes and comments', () => {
    const script = [
      `INSERT INTO t VALUES ('a;b', 'it''s;', E'\\';x')`,
      `CREATE TABLE "we;ird" (x int)`,
      `CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN RETURN 1; END; $fn$`,
      `DO $$ BEGIN PERFORM 1; END $$`,
      `SELECT 1 /* a; /* nested; */ still; */ + 1 -- trailing; comment\n`,
    ].join(';\n');
    expect(splitSqlStatements(script)).toHaveLength(5);
    expect(splitSqlStatements(script)[2]).toContain('RETURN 1; END;');
  });

  it('does not take a positional parameter or an identifier with $ for a dollar quote', () => {
    expect(splitSqlStatements('SELECT $1; SELECT a$b$ FROM t; SELECT 3')).toEqual([
      'SELECT $1',
      'SELECT a$b$ FROM t',
      'SELECT 3',
    ]);
  });
});
