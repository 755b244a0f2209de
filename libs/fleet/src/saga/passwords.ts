import { randomBytes } from 'node:crypto';

/**
 * A 32-character password from the CSPRNG. base64url's alphabet (A-Z a-z 0-9 - _) has none of
 * the characters RDS refuses in master passwords ('/', '"', '@', space).
 */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}
