import { spawn } from 'node:child_process';
import type { PgEndpoint } from '@silo/tenant-schema';

const PSQL = '/usr/lib/postgresql/15/bin/psql';
const COLUMNS = 'tenant_id, id, text, created_at';

/**
 * The plain way to move a pooled tenant: its rows out of the pool with `COPY (SELECT … WHERE
 * tenant_id = …) TO STDOUT`, piped into `COPY … FROM STDIN` on the target (pg_dump cannot filter
 * rows, so this is its pool form), two psql processes as an operator would run them. The tenant's
 * writes are stopped for all of it: its downtime is the whole copy. Returns the wall time in ms,
 * from starting the first psql to both having exited.
 */
export async function copyTenantRows(
  source: PgEndpoint,
  target: PgEndpoint,
  tenantId: string,
): Promise<number> {
  const started = performance.now();
  const out = psql(
    source,
    `COPY (SELECT ${COLUMNS} FROM app.notes WHERE tenant_id = '${tenantId}') TO STDOUT`,
  );
  const into = psql(target, `COPY app.notes (${COLUMNS}) FROM STDIN`);
  out.child.stdin.end();
  out.child.stdout.pipe(into.child.stdin);
  await Promise.all([out.done, into.done]);
  return performance.now() - started;
}

function psql(endpoint: PgEndpoint, command: string) {
  const child = spawn(
    PSQL,
    [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      endpoint.host,
      '-p',
      String(endpoint.port),
      '-U',
      endpoint.user,
      '-d',
      endpoint.database,
      '-c',
      command,
    ],
    // The password, if any, goes through the environment, never the command line.
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PGPASSWORD: endpoint.password, PGCONNECT_TIMEOUT: '10' },
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`psql (${command.slice(0, 40)}…) exited with ${code}: ${stderr.trim()}`)),
    );
  });
  return { child, done };
}
