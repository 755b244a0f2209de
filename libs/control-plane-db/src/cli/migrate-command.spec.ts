import { parseMigrateArguments } from './migrate-command';

describe('migrate arguments', () => {
  it('migrates only, by default; --data-plane-login adds the login with 50 connections unless told', () => {
    expect(parseMigrateArguments([])).toEqual({
      createDatabase: false,
      dataPlaneLogin: false,
      connectionLimit: 50,
    });
    expect(parseMigrateArguments(['--create-database', '--data-plane-login'])).toEqual({
      createDatabase: true,
      dataPlaneLogin: true,
      connectionLimit: 50,
    });
    expect(parseMigrateArguments(['--data-plane-login', '--data-plane-connection-limit=120'])).toMatchObject({
      dataPlaneLogin: true,
      connectionLimit: 120,
    });
  });

  it('names what it does not take', () => {
    expect(parseMigrateArguments(['--force', '--data-plane-connection-limit=x'])).toBe(
      'unknown argument(s) --force --data-plane-connection-limit=x',
    );
    expect(parseMigrateArguments(['--data-plane-connection-limit=10'])).toBe(
      '--data-plane-connection-limit needs --data-plane-login',
    );
  });
});
