import { InvalidSqlIdentifierError, quoteIdentifier } from './sql-identifier';

describe('quoteIdentifier', () => {
  it.each(['silo', 'silo_test_ab12', 'tenant-acme', '_x', 'A'.repeat(63)])('quotes %j', (name) => {
    expect(quoteIdentifier(name)).toBe(`"${name}"`);
  });

  it.each(['', 'a"b', 'a;b', 'drop table x', '1abc', 'a'.repeat(64), 'naïve', 'a\u0000b'])(
    'refuses %j',
    (name) => {
      expect(() => quoteIdentifier(name, 'role name')).toThrow(InvalidSqlIdentifierError);
      expect(() => quoteIdentifier(name, 'role name')).toThrow(/^role name .* is not a valid SQL identifier/);
    },
  );
});
