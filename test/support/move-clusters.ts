import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from './free-port';

const BIN = '/usr/lib/postgresql/15/bin';
/** Under the checkout's .cache: one directory per jest run, removed by its teardown. */
export const CLUSTERS_ROOT = resolve(__dirname, '../../.cache/test-clusters');
const OWNER_FILE = 'owner.pid';

/**
 * The local backend's own PostgreSQL clusters for a test run, as moves need them: wal_level=logical,
 * SCRAM for every TCP login (the superuser's password is in its URL), WAL archived beside the data.
 * `instances` and `hosts` are the first region's tenant instances and shared hosts (apart: a moved
 * tenant has logins of the same names on its source and target, and roles belong to a server);
 * `second` is the second region's.
 */
export const MOVE_CLUSTERS = {
  instances: 'SILO_TEST_INSTANCE_ADMIN_URL',
  hosts: 'SILO_TEST_HOST_ADMIN_URL',
  second: 'SILO_TEST_INSTANCE_ADMIN_URL_2',
} as const;

/** initdb and postgres refuse to run as root: then the clusters belong to the postgres OS user. */
function asOwner(command: string, args: string[]): void {
  const root = process.getuid?.() === 0;
  const [file, argv] = root
    ? ['runuser', ['-u', 'postgres', '--', join(BIN, command), ...args]]
    : [join(BIN, command), args];
  execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/tmp' });
}

function ownedByPostgres(path: string): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(path, uid, gid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Clusters of runs that were killed before their teardown: stopped and removed. */
function removeStale(): void {
  if (!existsSync(CLUSTERS_ROOT)) return;
  for (const run of readdirSync(CLUSTERS_ROOT)) {
    const dir = join(CLUSTERS_ROOT, run);
    const owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim() || '0');
    if (owner && alive(owner)) continue;
    stopRun(dir);
  }
}

function stopRun(dir: string): void {
  for (const name of Object.keys(MOVE_CLUSTERS)) {
    const data = join(dir, name, 'data');
    if (existsSync(join(data, 'postmaster.pid'))) {
      try {
        asOwner('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Starts the run's clusters and puts their admin URLs in process.env (see MOVE_CLUSTERS). */
export async function startMoveClusters(): Promise<void> {
  if (!existsSync(join(BIN, 'initdb'))) throw new Error(`PostgreSQL 15 binaries not found in ${BIN}`);
  mkdirSync(CLUSTERS_ROOT, { recursive: true });
  removeStale();
  const dir = join(CLUSTERS_ROOT, `run-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir);
  writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n`);
  process.env.SILO_TEST_CLUSTERS_DIR = dir;
  // The postgres OS user must reach its data directory through the checkout.
  for (let p = dir; p !== '/'; p = resolve(p, '..')) execFileSync('chmod', ['o+x', p]);
  await Promise.all(
    Object.entries(MOVE_CLUSTERS).map(async ([name, variable]) => {
      const home = join(dir, name);
      mkdirSync(join(home, 'archive'), { recursive: true });
      ownedByPostgres(home);
      ownedByPostgres(join(home, 'archive'));
      const password = randomBytes(18).toString('base64url');
      const pwfile = join(home, 'pw');
      writeFileSync(pwfile, password);
      ownedByPostgres(pwfile);
      const data = join(home, 'data');
      asOwner('initdb', [
        '-D',
        data,
        '-U',
        'postgres',
        '--pwfile',
        pwfile,
        '-A',
        'scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ]);
      rmSync(pwfile);
      const port = await freePort();
      writeFileSync(
        join(data, 'postgresql.conf'),
        [
          readFileSync(join(data, 'postgresql.conf'), 'utf8'),
          `port = ${port}`,
          "listen_addresses = '127.0.0.1'",
          `unix_socket_directories = '${home}'`,
          'wal_level = logical',
          'max_replication_slots = 40',
          'max_wal_senders = 40',
          'max_logical_replication_workers = 16',
          'max_worker_processes = 32',
          'max_connections = 300',
          'fsync = off',
          'synchronous_commit = off',
          'full_page_writes = off',
          'archive_mode = on',
          `archive_command = 'test ! -f ${join(home, 'archive')}/%f && cp %p ${join(home, 'archive')}/%f'`,
          '',
        ].join('\n'),
      );
      asOwner('pg_ctl', ['-D', data, '-l', join(home, 'server.log'), '-w', 'start']);
      process.env[variable] = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    }),
  );
}

/** Stops and removes the run's clusters. */
export function stopMoveClusters(): void {
  const dir = process.env.SILO_TEST_CLUSTERS_DIR;
  if (!dir) return;
  delete process.env.SILO_TEST_CLUSTERS_DIR;
  for (const variable of Object.values(MOVE_CLUSTERS)) delete process.env[variable];
  stopRun(dir);
}
