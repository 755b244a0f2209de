// pg_dump's command line and environment, seen through a stand-in script: no database needed.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpTenantSchema, TenantDumpError } from '../src';

const dir = mkdtempSync(join(tmpdir(), 'silo-dump-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in pg_dump: a shell script. */
function fakePgDump(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

const owner = {
  host: 'db.internal',
  port: 5433,
  database: 'host_db',
  user: 'silo_host_admin',
  password: `pa$$ 'word" ${'x'.repeat(8)}`,
};
const tenantId = '7d0b8a8e-3a5c-4c11-9a5e-0b7c3c1c2f10';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function read(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

describe('dumpTenantSchema', () => {
  it('passes the password through the environment only, and no PG* variable of this process', async () => {
    const pgDump = fakePgDump(
      'args-and-env',
      `for a in "$@"; do printf 'arg:%s\\n' "$a"; done; env | grep '^PG' | sed 's/^/env:/' | sort`,
    );
    process.env.PGHOST = 'elsewhere.example';
    try {
      const out = await read(dumpTenantSchema(owner, { schema: 'silo_acme', tenantId, pgDump }));
      const args = out.split('\n').filter((l) => l.startsWith('arg:'));
      expect(args).toEqual([
        'arg:--host=db.internal',
        'arg:--port=5433',
        'arg:--username=silo_host_admin',
        'arg:--dbname=host_db',
        'arg:--schema="silo_acme"',
        'arg:--format=custom',
        'arg:--no-owner',
        'arg:--no-privileges',
        'arg:--no-password',
        'arg:--enable-row-security',
        'arg:--lock-wait-timeout=10000',
      ]);
      expect(args.join('\n')).not.toContain(owner.password);
      expect(out.split('\n').filter((l) => l.startsWith('env:'))).toEqual([
        'env:PGAPPNAME=silo-tenant-dump',
        'env:PGCONNECT_TIMEOUT=5',
        `env:PGOPTIONS=-c app.tenant_id=${tenantId}`,
        `env:PGPASSWORD=${owner.password}`,
        'env:PGSSLMODE=disable',
      ]);
    } finally {
      delete process.env.PGHOST;
    }
  });

  it('hands a CA bundle to libpq in a private file, removed when pg_dump ends', async () => {
    const pgDump = fakePgDump(
      'tls',
      `printf '%s\\n%s\\n' "$PGSSLMODE" "$PGSSLROOTCERT"; stat -c '%a' "$PGSSLROOTCERT"; cat "$PGSSLROOTCERT"`,
    );
    const ca = '-----BEGIN CERTIFICATE-----\nRDS\n-----END CERTIFICATE-----\n';
    const out = await read(
      dumpTenantSchema({ ...owner, ssl: { ca } }, { schema: 'silo_acme', tenantId, pgDump }),
    );
    const [mode, file, permissions, ...pem] = out.split('\n');
    expect({ mode, permissions, pem: pem.join('\n') }).toEqual({
      mode: 'verify-full',
      permissions: '600',
      pem: ca,
    });
    expect(existsSync(file)).toBe(false);
  });

  it('streams what pg_dump writes and fails with its stderr, scrubbed of the password, on a non-zero exit', async () => {
    const pgDump = fakePgDump(
      'fails',
      `printf 'partial dump'; printf 'pg_dump: error: connection failed for "%s"\\n' "$PGPASSWORD" >&2; exit 1`,
    );
    const stream = dumpTenantSchema(owner, { schema: 'silo_acme', tenantId, pgDump });
    let received = '';
    stream.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const error = await new Promise<unknown>((resolve) => stream.on('error', resolve));
    expect(received).toBe('partial dump');
    expect(error).toBeInstanceOf(TenantDumpError);
    const dumpError = error as TenantDumpError;
    expect(dumpError.exitCode).toBe(1);
    expect(dumpError.message).toBe(
      'pg_dump of schema silo_acme failed (exit 1): pg_dump: error: connection failed for "[redacted]"',
    );
    expect(dumpError.stderr).not.toContain(owner.password);
  });

  it('says to install the PostgreSQL client when pg_dump is missing', async () => {
    await expect(
      read(dumpTenantSchema(owner, { schema: 'silo_acme', tenantId, pgDump: join(dir, 'missing') })),
    ).rejects.toThrow(`pg_dump was not found (${join(dir, 'missing')}): install the PostgreSQL client`);
  });

  it('stops pg_dump when the reader gives up', async () => {
    const pidFile = join(dir, 'endless.pid');
    const pgDump = fakePgDump('endless', `echo $$ > ${pidFile}; while :; do printf 'x'; sleep 0.05; done`);
    const stream = dumpTenantSchema(owner, { schema: 'silo_acme', tenantId, pgDump });
    await new Promise((resolve) => stream.once('data', resolve));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);
    stream.destroy();
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(alive(pid)).toBe(false);
  });

  it('refuses a schema that is not a schema tenant’s and a tenant id that is not one', () => {
    expect(() => dumpTenantSchema(owner, { schema: 'app', tenantId })).toThrow(/needs a schema of its own/);
    expect(() => dumpTenantSchema(owner, { schema: 'silo_acme', tenantId: 'acme' })).toThrow(
      /not a tenant id/,
    );
  });
});
