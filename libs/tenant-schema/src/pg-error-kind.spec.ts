import { pgErrorKind, serverSqlState } from './pg-error-kind';

describe('pgErrorKind', () => {
  it.each([
    ['42P07', 'refused'],
    ['55P03', 'refused'],
    ['57014', 'refused'],
    ['28P01', 'refused'],
    ['08006', 'transient'],
    ['53300', 'transient'],
    ['57P01', 'transient'],
    ['57P03', 'transient'],
    ['40001', 'transient'],
    ['40P01', 'transient'],
    ['EPIPE', 'transient'],
    ['ECONNREFUSED', 'transient'],
  ])('takes %s as %s', (code, kind) => {
    expect(pgErrorKind(Object.assign(new Error('x'), { code }))).toBe(kind);
  });

  it('reads a codeless connection loss as transient and any other codeless error as refused', () => {
    expect(pgErrorKind(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(pgErrorKind(new TypeError('cannot read properties of undefined'))).toBe('refused');
  });

  it('gives a SQLSTATE only for what the server sent', () => {
    expect(serverSqlState({ code: '42P07' })).toBe('42P07');
    expect(serverSqlState({ code: 'EPIPE' })).toBeUndefined();
    expect(serverSqlState(new Error('x'))).toBeUndefined();
  });
});
