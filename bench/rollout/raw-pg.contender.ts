import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { splitSqlStatements } from '@silo/tenant-schema';
import { Client } from 'pg';
import { ownerConfig, type FleetTenant } from './bench-fleet';
import { forEachLimited } from './for-each-limited';
import type { ContenderRun } from './rollout-bench-report';
import { ClientCalls } from './rollout-probes';
import { ActivitySampler, type ActivityScope } from './server-activity';

/** One migration file as a hand-written loop would apply it. */
export interface SqlFile {
  version: string;
  file: string;
  text: string;
  /** False when the first line is `-- silo:no-transaction` (the file convention Silo's loader follows). */
  transactional: boolean;
  statements: string[];
}

const SQL_FILE = /^(\d{1,18})_[A-Za-z0-9][A-Za-z0-9_-]{0,99}\.sql$/;

/** The `NNNN_name.sql` files of `dir` newer than `after`, in version order. */
export function loadSqlFiles(dir: string, after: string): SqlFile[] {
  return readdirSync(dir)
    .flatMap((file) => {
      const version = SQL_FILE.exec(file)?.[1];
      return version !== undefined && BigInt(version) > BigInt(after) ? [{ file, version }] : [];
    })
    .sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : 1))
    .map(({ file, version }) => {
      const text = readFileSync(join(dir, file), 'utf8');
      return {
        version,
        file,
        text,
        transactional: text.split(/\r?\n/, 1)[0].trim() !== '-- silo:no-transaction',
        statements: splitSqlStatements(text),
      };
    });
}

/**
 * The same SQL files applied with a bare `pg` client, `concurrency` tenants at a time (1: one tenant
 * after the other): per tenant one connection as its owner, a transactional file as BEGIN, the
 * file, COMMIT, a `-- silo:no-transaction` one statement by statement. No ledger, no lock, no
 * timeouts, no control plane. Each file's span is timed as the migrator times it for its ledger:
 * from before BEGIN to the end of the file's SQL, COMMIT not included.
 */
export async function applyWithRawPg(options: {
  tenants: readonly FleetTenant[];
  files: readonly SqlFile[];
  concurrency: number;
  activity: ActivityScope;
  signal: AbortSignal;
}): Promise<ContenderRun> {
  const { tenants, files } = options;
  const tenantMs: number[] = [];
  const sqlMs = new Map<string, number[]>(files.map((f) => [f.version, []]));
  const calls = new ClientCalls();
  let sampler: ActivitySampler | undefined;
  try {
    calls.install();
    sampler = await ActivitySampler.start(options.activity);
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    await forEachLimited(
      tenants,
      options.concurrency,
      async (t) => {
        const began = performance.now();
        const client = new Client({ ...ownerConfig(t), application_name: 'silo-bench-raw' });
        client.on('error', () => undefined);
        await client.connect();
        try {
          for (const file of files) {
            const fileStart = performance.now();
            if (file.transactional) {
              await client.query('BEGIN');
              await client.query(file.text);
              sqlMs.get(file.version)!.push(performance.now() - fileStart);
              await client.query('COMMIT');
            } else {
              for (const statement of file.statements) await client.query(statement);
              sqlMs.get(file.version)!.push(performance.now() - fileStart);
            }
          }
        } finally {
          await client.end();
        }
        tenantMs.push(performance.now() - began);
      },
      options.signal,
    );
    const wallMs = performance.now() - start;
    const cpu = process.cpuUsage(cpuStart);
    const activity = await sampler.stop();
    return {
      tenants: tenants.length,
      concurrency: options.concurrency,
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      tenantMs,
      sqlMs,
      calls: calls.snapshot(),
      activity,
    };
  } finally {
    await sampler?.stop();
    calls.uninstall();
  }
}
