import { Client } from 'pg';

/**
 * Logs in to the server behind `adminUrl` (one of the local instance backend's clusters, which
 * check every password over SCRAM) as `login` and ends the session. Resolves to undefined when the
 * server let the login in, else to the SQLSTATE it refused it with: 28P01 for a wrong password
 * (or a role without one), 28000 for a role that may not log in.
 */
export async function loginRefusal(
  adminUrl: string,
  login: { username: string; password: string },
  database = 'postgres',
): Promise<string | undefined> {
  const server = new URL(adminUrl);
  const client = new Client({
    host: server.hostname,
    port: Number(server.port),
    database,
    user: login.username,
    password: login.password,
    connectionTimeoutMillis: 5000,
    application_name: 'silo-test-login',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    throw error;
  }
  await client.end();
  return undefined;
}
