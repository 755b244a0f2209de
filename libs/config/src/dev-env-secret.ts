import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { EXAMPLE_JWT_SECRETS } from './config.schema';

/**
 * Gives the development stack's `.env` a signing secret of its own: an empty `AUTH_JWT_SECRET=`
 * (as `.env.example` ships it) or a published example secret is replaced in place by 32 random
 * bytes. Any other value, a file without the variable, or no file, is left as it is. Returns
 * whether the file was changed. Only for the `.env` that `npm run dev` owns, never a file a user
 * pointed SILO_ENV_FILE at.
 */
export function ensureOwnDevJwtSecret(envFile: string): boolean {
  if (!existsSync(envFile)) return false;
  const text = readFileSync(envFile, 'utf8');
  const line = /^AUTH_JWT_SECRET=(.*)$/m.exec(text);
  if (!line) return false;
  const value = line[1].trim().replace(/^(['"])(.*)\1$/, '$2');
  if (value !== '' && !EXAMPLE_JWT_SECRETS.includes(value)) return false;
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(envFile, text.replace(/^AUTH_JWT_SECRET=.*$/m, `AUTH_JWT_SECRET=${secret}`));
  // It now holds a signing secret: readable by its owner only.
  chmodSync(envFile, 0o600);
  return true;
}
