import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureOwnDevJwtSecret } from './dev-env-secret';
import { loadConfig } from './load-config';

function envFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'silo-dev-env-')), '.env');
  writeFileSync(file, text);
  return file;
}

const REST =
  'DATABASE_URL=postgres://postgres@127.0.0.1:5432/silo\nREDIS_URL=redis://127.0.0.1:6379\nAWS_REGION=us-east-1\nALARM_ACTIONS=none\n';

describe('ensureOwnDevJwtSecret', () => {
  it.each([
    ['empty, as .env.example ships it', 'AUTH_JWT_SECRET='],
    ['the example secret older .env files carry', 'AUTH_JWT_SECRET=local-development-only-secret-change-me'],
    ['the example secret quoted', 'AUTH_JWT_SECRET="local-development-only-secret-change-me"'],
  ])(
    'writes a random secret of its own where the value is %s, which the configuration accepts',
    (_case, line) => {
      const file = envFile(`# comment\n${line}\n${REST}`);
      expect(ensureOwnDevJwtSecret(file)).toBe(true);
      const text = readFileSync(file, 'utf8');
      const secret = /^AUTH_JWT_SECRET=(.+)$/m.exec(text)?.[1];
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(text).toBe(`# comment\nAUTH_JWT_SECRET=${secret}\n${REST}`);
      expect(loadConfig({ env: { SILO_ENV_FILE: file } }).auth.jwtSecret).toBe(secret);

      // Each checkout its own, and the second call keeps it.
      const other = envFile(`${line}\n`);
      ensureOwnDevJwtSecret(other);
      expect(readFileSync(other, 'utf8')).not.toContain(secret);
      expect(ensureOwnDevJwtSecret(file)).toBe(false);
      expect(readFileSync(file, 'utf8')).toBe(text);
    },
  );

  it('leaves a secret the user set, a file without the variable, and a missing file alone', () => {
    const own = envFile(`AUTH_JWT_SECRET=my-own-secret-that-is-long-enough-for-hs256\n${REST}`);
    expect(ensureOwnDevJwtSecret(own)).toBe(false);
    expect(readFileSync(own, 'utf8')).toContain('my-own-secret-that-is-long-enough-for-hs256');
    const without = envFile(REST);
    expect(ensureOwnDevJwtSecret(without)).toBe(false);
    expect(readFileSync(without, 'utf8')).toBe(REST);
    expect(ensureOwnDevJwtSecret(join(tmpdir(), 'silo-no-such-dir', '.env'))).toBe(false);
  });
});
