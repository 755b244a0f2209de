import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort as anyFreePort } from '../../test/support/free-port';

const BIN = '/usr/lib/postgresql/15/bin';
const DIR_PREFIX = 'silo-router-bench-';
const OWNER_FILE = 'owner.pid';
/** The machine's own cluster; never ours. */
const RESERVED_PORT = 5432;
export const SUPERUSER = 'postgres';
export const SUPERUSER_RESERVED_CONNECTIONS = 3;

/** Settings that change between workloads (a restart applies them). */
export interface ServerSettings {
  maxConnections: number;
}

/**
 * A throwaway PostgreSQL 15 cluster in a temporary directory, on a free loopback port: trust for
 * the superuser, SCRAM for every other role, fsync off. Started, restarted and removed by the
 * bench; a cluster left behind by a bench that was killed is removed by the next run.
 */
export class PrivatePostgres {
  readonly port: number;
  readonly dir: string;
  private readonly dataDir: string;
  private readonly asPostgres: boolean;
  private running = false;
  private removed = false;

  private constructor(dir: string, port: number, asPostgres: boolean) {
    this.dir = dir;
    this.dataDir = join(dir, 'data');
    this.port = port;
    this.asPostgres = asPostgres;
  }

  /** Makes the directory and runs initdb; start() comes next. */
  static async create(log: (line: string) => void): Promise<PrivatePostgres> {
    if (!existsSync(join(BIN, 'initdb'))) throw new Error(`PostgreSQL 15 binaries not found in ${BIN}`);
    // initdb refuses to run as root: as root, the cluster belongs to the postgres OS user.
    const asPostgres = process.getuid?.() === 0;
    let owner: { uid: number; gid: number } | undefined;
    if (asPostgres) owner = postgresUser();
    removeStaleClusters(log);

    const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
    writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n`);
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const server = new PrivatePostgres(dir, await freePort(), asPostgres);
    try {
      await server.exec('initdb', [
        '-D',
        server.dataDir,
        '-U',
        SUPERUSER,
        '-A',
        'trust',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ]);
      writeFileSync(
        join(server.dataDir, 'pg_hba.conf'),
        [
          'local all postgres trust',
          `host all ${SUPERUSER} 127.0.0.1/32 trust`,
          'host all all 127.0.0.1/32 scram-sha-256',
          '',
        ].join('\n'),
      );
      appendFileSync(join(server.dataDir, 'postgresql.conf'), "\ninclude 'bench.conf'\n");
    } catch (error) {
      server.remove();
      throw error;
    }
    return server;
  }

  /** Starts the server with these settings, or restarts it when it runs. */
  async start(settings: ServerSettings): Promise<void> {
    if (this.running) await this.stop();
    const conf = [
      `listen_addresses = '127.0.0.1'`,
      `port = ${this.port}`,
      `unix_socket_directories = '${this.dir}'`,
      `max_connections = ${settings.maxConnections}`,
      `superuser_reserved_connections = ${SUPERUSER_RESERVED_CONNECTIONS}`,
      `shared_buffers = '64MB'`,
      // A throwaway cluster: durability is not what is measured.
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'wal_level = minimal',
      'max_wal_senders = 0',
      `max_wal_size = '4GB'`,
      `checkpoint_timeout = '30min'`,
      // With thousands of databases the launcher would start a worker every few ms; nothing is written.
      'autovacuum = off',
      'jit = off',
      `log_min_messages = 'warning'`,
      '',
    ].join('\n');
    writeFileSync(join(this.dataDir, 'bench.conf'), conf);
    await this.exec('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'postgres.log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
    this.running = true;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    await this.exec('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    this.running = false;
  }

  /**
   * Stops the server (immediately) if it may run and deletes the directory with every database
   * in it. Synchronous, so that it can also run from an 'exit' handler.
   */
  remove(): void {
    if (this.removed) return;
    stopImmediately(this.dir, this.asPostgres);
    this.running = false;
    rmSync(this.dir, { recursive: true, force: true });
    this.removed = true;
  }

  /** The running postmaster's pid (the first line of postmaster.pid), undefined when it is not running. */
  postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The last lines of the server's log, for an error message. */
  logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dir, 'postgres.log'), 'utf8')
        .trimEnd()
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '';
    }
  }

  private exec(binary: string, args: string[]): Promise<void> {
    const [file, argv] = command(this.asPostgres, binary, args);
    return new Promise((resolve, reject) => {
      // cwd: the postgres user may not be allowed into the repository.
      const child = spawn(file, argv, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve();
        else {
          const tail = this.logTail();
          reject(
            new Error(
              `${binary} ${args.at(-1) ?? ''} exited with ${code}: ${output.trim()}` +
                (tail ? `\nserver log:\n${tail}` : ''),
            ),
          );
        }
      });
    });
  }
}

/** A PostgreSQL binary with its arguments, run as the postgres OS user when `asPostgres`. */
function command(asPostgres: boolean, binary: string, args: string[]): [string, string[]] {
  const path = join(BIN, binary);
  return asPostgres ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

/** Stops the cluster in `dir` at once if it may run. Synchronous, for an 'exit' handler too. */
function stopImmediately(dir: string, asPostgres: boolean): void {
  const dataDir = join(dir, 'data');
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  spawnSync(...command(asPostgres, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']), {
    cwd: dir,
    stdio: 'ignore',
  });
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string): number => {
    const result = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error('running as root needs a postgres OS user to own the cluster');
    return Number(result.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

/** Clusters of benches that died without cleaning up (their owner process is gone). */
function removeStaleClusters(log: (line: string) => void): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
    } catch {
      continue;
    }
    if (isAlive(owner)) continue;
    log(`removing a cluster left behind by bench process ${owner}: ${dir}`);
    stopImmediately(dir, process.getuid?.() === 0);
    rmSync(dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A free loopback port other than 5432. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await anyFreePort();
    if (port !== RESERVED_PORT) return port;
  }
}
