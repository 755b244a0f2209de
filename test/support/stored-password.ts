import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { Client } from 'pg';
import { testServices } from './test-services';

/**
 * Whether `password` is the role's stored password on the server behind `adminUrl` (default the
 * machine's, of the control-plane databases). That server trusts loopback connections, so a login
 * there proves nothing about the password; this checks the stored verifier the way password
 * authentication does (SCRAM-SHA-256, or MD5 on servers that still store that). On the local
 * instance backend's own clusters, which check every password, prefer a login (loginRefusal).
 */
export async function storedPasswordIs(
  role: string,
  password: string,
  adminUrl: string = testServices.postgresAdminUrl,
): Promise<boolean> {
  const admin = new Client({ connectionString: adminUrl });
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
