import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { Client } from 'pg';
import { testServices } from './test-services';

/**
 * Whether `password` is the role's stored password. The test server trusts loopback connections,
 * so a login proves nothing about the password; this checks the stored verifier the way password
 * authentication does (SCRAM-SHA-256, or MD5 on servers that still store that).
 */
export async function storedPasswordIs(role: string, password: string): Promise<boolean> {
  const admin = new Client({ connectionString: testServices.postgresAdminUrl });
  await admin.connect();
  let stored: string | null;
  try {
    const result = await admin.query<{ rolpassword: string | null }>(
      'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
      [role],
    );
    stored = result.rows[0]?.rolpassword ?? null;
  } finally {
    await admin.end();
  }
  if (stored === null) return false;
  if (stored.startsWith('md5')) {
    return (
      stored ===
      `md5${createHash('md5')
        .update(password + role)
        .digest('hex')}`
    );
  }
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(stored);
  if (!match) throw new Error(`unknown password verifier format for ${role}`);
  const [, iterations, salt, storedKey, serverKey] = match;
  const salted = pbkdf2Sync(password, Buffer.from(salt, 'base64'), Number(iterations), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return (
    createHash('sha256').update(clientKey).digest('base64') === storedKey &&
    createHmac('sha256', salted).update('Server Key').digest('base64') === serverKey
  );
}
