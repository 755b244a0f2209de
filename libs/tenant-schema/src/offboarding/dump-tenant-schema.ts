import { quoteIdentifier } from '@silo/core';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { DEFAULT_CONNECT_TIMEOUT_MS, type PgEndpoint } from '../pg-endpoint';
import { checkedTarget } from '../placements/migration-target';
import { TENANT_SETTING } from '../placements/tenant-isolation';
import { assertTenantId } from './tenant-tables';

/** How {@link dumpTenantSchema} runs pg_dump. */
export interface DumpTenantSchemaOptions {
  /** The schema tenant's own schema. */
  schema: string;
  /**
   * The tenant the schema holds. The owner is held by the schema's forced row-level security
   * too: the dump runs with `app.tenant_id` set to it, or it would hold no rows.
   */
  tenantId: string;
  /** `custom` (pg_restore; compressed) or `plain` (SQL for psql). Default `custom`. */
  format?: 'custom' | 'plain';
  /** How long pg_dump waits for each table's shared lock before it fails. Default 10000. */
  lockWaitTimeoutMs?: number;
  /** The pg_dump executable. Default `pg_dump` on the PATH. */
  pgDump?: string;
}

/** pg_dump could not be run, or failed; `stderr` is what it said (never holding the password). */
export class TenantDumpError extends Error {
  override readonly name = 'TenantDumpError';
  constructor(
    message: string,
    readonly stderr: string,
    readonly exitCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const APPLICATION_NAME = 'silo-tenant-dump';
const STDERR_KEPT = 8192;
/** Debian's (the image's) bundle of the system's trusted CAs. */
const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * A `pg_dump` of one schema tenant's schema, as the host's owner, streamed as pg_dump writes it
 * (nothing is held in memory): its tables, rows, sequences and functions, without grants
 * (`--no-privileges`: the roles are dropped with the tenant) and, in plain SQL, without owners.
 * Restore a custom dump with `pg_restore --no-owner --dbname=<db> <file>` (`--file=-` prints its
 * SQL), a plain one with psql; as a role held by row-level security, with
 * `PGOPTIONS='-c app.tenant_id=<tenant id>'` so the policies let the rows in.
 *
 * The password reaches pg_dump through its environment (PGPASSWORD), never its command line,
 * and no other PG* variable of this process leaks in. The stream ends only after pg_dump exited
 * 0; otherwise it fails with a {@link TenantDumpError} (pg_dump missing, or its exit code and
 * stderr). Destroying the stream stops pg_dump.
 */
export function dumpTenantSchema(owner: PgEndpoint, options: DumpTenantSchemaOptions): Readable {
  const { quotedSchema } = checkedTarget({ placement: 'schema', schema: options.schema });
  assertTenantId(options.tenantId);
  quoteIdentifier(owner.database, 'database name');
  const format = options.format ?? 'custom';
  const tls = tlsEnvironment(owner.ssl);
  const args = [
    `--host=${owner.host}`,
    `--port=${owner.port}`,
    `--username=${owner.user}`,
    `--dbname=${owner.database}`,
    // A quoted pattern: the schema exactly as named (pg_dump folds unquoted patterns to lower case).
    `--schema=${quotedSchema}`,
    `--format=${format}`,
    '--no-owner',
    '--no-privileges',
    '--no-password',
    // pg_dump turns row_security off by default, which fails for a table whose RLS binds its owner.
    '--enable-row-security',
    `--lock-wait-timeout=${options.lockWaitTimeoutMs ?? 10_000}`,
  ];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PGPASSWORD: owner.password,
    PGAPPNAME: APPLICATION_NAME,
    PGCONNECT_TIMEOUT: String(
      Math.max(2, Math.ceil((owner.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) / 1000)),
    ),
    PGOPTIONS: `-c ${TENANT_SETTING}=${options.tenantId}`,
    ...tls.env,
  };

  const out = new PassThrough();
  const child = spawn(options.pgDump ?? 'pg_dump', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < STDERR_KEPT) stderr = (stderr + chunk).slice(0, STDERR_KEPT);
  });
  // Ended by hand: stdout can end before the exit code says whether the dump is whole.
  child.stdout.pipe(out, { end: false });
  let settled = false;
  const settle = (error?: Error) => {
    if (settled) return;
    settled = true;
    tls.cleanup();
    if (error) out.destroy(error);
    else out.end();
  };
  child.on('error', (error: NodeJS.ErrnoException) => {
    settle(
      new TenantDumpError(
        error.code === 'ENOENT'
          ? `pg_dump was not found (${options.pgDump ?? 'pg_dump'}): install the PostgreSQL client`
          : `pg_dump could not be started: ${error.message}`,
        '',
        null,
        { cause: error },
      ),
    );
  });
  child.on('close', (code, signal) => {
    if (code === 0) return settle();
    const said = scrub(stderr.trim(), owner.password);
    settle(
      new TenantDumpError(
        `pg_dump of schema ${options.schema} failed (${code === null ? `signal ${signal}` : `exit ${code}`})${said ? `: ${said}` : ''}`,
        said,
        code,
      ),
    );
  });
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return out;
}

/** libpq's TLS variables for an endpoint's TLS settings; a CA bundle goes to a private temporary file. */
export function tlsEnvironment(ssl: PgEndpoint['ssl']): { env: Record<string, string>; cleanup: () => void } {
  if (!ssl) return { env: { PGSSLMODE: 'disable' }, cleanup: () => undefined };
  if (ssl !== true && ssl.rejectUnauthorized === false)
    return { env: { PGSSLMODE: 'require' }, cleanup: () => undefined };
  // The system's trust store, as Node's (libpq before 16 does not know PGSSLROOTCERT=system).
  if (ssl === true || !ssl.ca)
    return { env: { PGSSLMODE: 'verify-full', PGSSLROOTCERT: SYSTEM_CA_BUNDLE }, cleanup: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), 'silo-dump-'));
  const file = join(dir, 'ca.pem');
  writeFileSync(file, ssl.ca, { mode: 0o600 });
  return {
    env: { PGSSLMODE: 'verify-full', PGSSLROOTCERT: file },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function scrub(text: string, password: string): string {
  return password ? text.split(password).join('[redacted]') : text;
}
