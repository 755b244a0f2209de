import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp } from 'node:fs/promises';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

/** Where the PostgreSQL 15 binaries are (Debian's layout). */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';
/** The cluster's superuser: the role the admin URL logs in as. */
export const CLUSTER_SUPERUSER = 'postgres';
/** Marks a directory whose clusters belong to a process: when that process is gone they are abandoned. */
export const OWNER_FILE = 'owner.pid';
/** The machine's own cluster's port; never one of ours. */
const RESERVED_PORT = 5432;
const STATE_FILE = 'cluster.json';
const PASSWORD_FILE = 'superuser.password';

/** postgresql.conf settings, written to the cluster's silo.conf at each start. */
export type ClusterSettings = Record<string, string | number>;

/**
 * What makes the local backend behave like RDS: logical replication (moves copy tenants with it),
 * room for the slots, senders and workers of many moves at once, every completed WAL segment
 * archived (point-in-time restores), and enough connections for a fleet of tenants.
 */
export function rdsLikeSettings(archiveDir: string): ClusterSettings {
  return {
    wal_level: 'logical',
    max_replication_slots: 40,
    max_wal_senders: 40,
    max_logical_replication_workers: 16,
    max_worker_processes: 32,
    max_connections: 300,
    archive_mode: 'on',
    archive_command: `test ! -f "${archiveDir}/%f" && cp "%p" "${archiveDir}/%f"`,
  };
}

/** Durability off: for clusters whose data a crash of the machine may lose (tests, benches). */
export const THROWAWAY_SETTINGS: ClusterSettings = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
};

export interface LocalPostgresClusterOptions {
  /** The cluster's directory: data/, archive/ (WAL segments), server.log, its port and superuser password. */
  dir: string;
  /** THROWAWAY_SETTINGS on top of the RDS-like ones. Default false. */
  throwaway?: boolean;
  /** Settings over the others (a bench's workload). Default none. */
  settings?: ClusterSettings;
  /**
   * How the superuser logs in over TCP. Default 'scram-sha-256', as every other role does; 'trust'
   * only for a bench that measures something else than logins.
   */
  superuserAuth?: 'scram-sha-256' | 'trust';
  /** Progress lines (initdb, start, adoption of a running server). Default none. */
  log?: (line: string) => void;
}

interface ClusterState {
  port: number;
}

/**
 * A private PostgreSQL 15 cluster of the local instance backend, on 127.0.0.1 and a port of its
 * own: SCRAM for every login (the superuser's password is random, in its admin URL), logical
 * replication and WAL archiving on (rdsLikeSettings). The port and password are kept in the
 * directory, so a cluster opened again (`npm run dev` after a restart) has the same admin URL and
 * the tenants' endpoints still point at it.
 *
 * initdb and postgres refuse to run as root: then the cluster belongs to the postgres OS user,
 * every command runs as that user, and the directories above the cluster are made traversable.
 */
export class LocalPostgresCluster {
  readonly dir: string;
  readonly dataDir: string;
  readonly archiveDir: string;
  readonly port: number;
  private readonly password: string;
  private readonly options: LocalPostgresClusterOptions;
  private readonly asPostgres: boolean;

  private constructor(options: LocalPostgresClusterOptions, port: number, password: string) {
    this.options = options;
    this.dir = resolve(options.dir);
    this.dataDir = join(this.dir, 'data');
    this.archiveDir = join(this.dir, 'archive');
    this.port = port;
    this.password = password;
    this.asPostgres = runsAsRoot();
  }

  /**
   * The cluster in `options.dir`: made there (initdb) when it holds none yet, else opened as it
   * was left. start() comes next.
   */
  static async open(options: LocalPostgresClusterOptions): Promise<LocalPostgresCluster> {
    if (!existsSync(join(POSTGRES_BIN, 'initdb')))
      throw new Error(`PostgreSQL 15 binaries not found in ${POSTGRES_BIN}`);
    const dir = resolve(options.dir);
    if (existsSync(join(dir, 'data', 'PG_VERSION')) && existsSync(join(dir, STATE_FILE))) {
      const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as ClusterState;
      const password = readFileSync(join(dir, PASSWORD_FILE), 'utf8').trim();
      return new LocalPostgresCluster(options, state.port, password);
    }
    // A directory that initdb did not finish in holds nothing worth keeping.
    rmSync(join(dir, 'data'), { recursive: true, force: true });
    mkdirSync(join(dir, 'archive'), { recursive: true });
    const cluster = new LocalPostgresCluster(
      options,
      await freeLoopbackPort(),
      randomBytes(24).toString('base64url'),
    );
    await cluster.init();
    return cluster;
  }

  /**
   * A new cluster in `options.dir` whose data directory is a copy of `data` (a plain base backup,
   * left as it is) and whose superuser logs in with `password`, the one the copied data holds; on
   * a free port. start() comes next (with recovery settings, for a backup); remove() deletes it.
   */
  static async fromCopy(
    options: LocalPostgresClusterOptions,
    data: string,
    password: string,
  ): Promise<LocalPostgresCluster> {
    const dir = resolve(options.dir);
    if (existsSync(join(dir, 'data'))) throw new Error(`${dir} already holds a cluster`);
    mkdirSync(join(dir, 'archive'), { recursive: true });
    await cp(data, join(dir, 'data'), { recursive: true });
    // Copied as this process's user; postgres refuses a data directory others may read.
    chmodSync(join(dir, 'data'), 0o700);
    const cluster = new LocalPostgresCluster(options, await freeLoopbackPort(), password);
    writeFileSync(join(dir, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
    writeFileSync(
      join(dir, STATE_FILE),
      `${JSON.stringify({ port: cluster.port } satisfies ClusterState)}\n`,
    );
    if (cluster.asPostgres) {
      makeTraversable(dirname(dir));
      const owner = postgresUser();
      chownSync(dir, owner.uid, owner.gid);
      for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' }))
        lchownSync(join(dir, entry), owner.uid, owner.gid);
    }
    return cluster;
  }

  /**
   * Runs one of POSTGRES_BIN's programs as the cluster's OS user (postgres when we are root), in
   * the cluster's directory, with `env` over this process's environment: a password goes there
   * as PGPASSWORD, never on the command line. Fails with the program's output.
   */
  run(binary: string, args: string[], env: Record<string, string> = {}): Promise<void> {
    return this.exec(binary, args, env);
  }

  /** Whether the cluster runs with durability off (THROWAWAY_SETTINGS). */
  get throwaway(): boolean {
    return this.options.throwaway === true;
  }

  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  get adminUrl(): string {
    return `postgres://${CLUSTER_SUPERUSER}:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/postgres`;
  }

  /**
   * Starts the server with its settings (and `settings` over them); restarts it when it runs, a
   * server left running by a process that died included.
   */
  async start(settings: ClusterSettings = {}): Promise<void> {
    if (this.running()) await this.stop();
    const all: ClusterSettings = {
      listen_addresses: '127.0.0.1',
      port: this.port,
      // TCP only: a socket path under a deep checkout would pass the 107 bytes PostgreSQL allows.
      unix_socket_directories: '',
      ...rdsLikeSettings(this.archiveDir),
      ...(this.options.throwaway ? THROWAWAY_SETTINGS : {}),
      ...this.options.settings,
      ...settings,
    };
    writeFileSync(
      join(this.dataDir, 'silo.conf'),
      Object.entries(all)
        .map(([name, value]) => `${name} = ${typeof value === 'number' ? value : quoteSetting(value)}\n`)
        .join(''),
    );
    await this.exec('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'server.log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
  }

  /** A fast shutdown: sessions are ended, the data is kept. */
  async stop(): Promise<void> {
    if (!this.running()) return;
    await this.exec('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
  }

  /** Stops the server at once if it may run and deletes the directory. Synchronous (an 'exit' handler may call it). */
  remove(): void {
    stopClusterNow(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Whether a postmaster runs on the data directory. */
  running(): boolean {
    return this.postmasterPid() !== undefined;
  }

  /** The running postmaster's pid, undefined when it is not running. */
  postmasterPid(): number | undefined {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
    return isAlive(pid) ? pid : undefined;
  }

  /** The last lines of the server's log, for an error message. */
  logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8')
        .trimEnd()
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '';
    }
  }

  private async init(): Promise<void> {
    this.options.log?.(`initdb ${this.dataDir}`);
    if (this.asPostgres) {
      makeTraversable(dirname(this.dir));
      const owner = postgresUser();
      for (const path of [this.dir, this.archiveDir]) chownSync(path, owner.uid, owner.gid);
    }
    const passwordFile = join(this.dir, PASSWORD_FILE);
    writeFileSync(passwordFile, `${this.password}\n`, { mode: 0o600 });
    if (this.asPostgres) chownSync(passwordFile, postgresUser().uid, postgresUser().gid);
    await this.exec('initdb', [
      '-D',
      this.dataDir,
      '-U',
      CLUSTER_SUPERUSER,
      '--pwfile',
      passwordFile,
      '-A',
      'scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C',
      ...(this.options.throwaway ? ['--no-sync'] : []),
    ]);
    const trustSuperuser = this.options.superuserAuth === 'trust';
    writeFileSync(
      join(this.dataDir, 'pg_hba.conf'),
      [
        'local all all scram-sha-256',
        ...(trustSuperuser ? [`host all ${CLUSTER_SUPERUSER} 127.0.0.1/32 trust`] : []),
        'host all all 127.0.0.1/32 scram-sha-256',
        'host replication all 127.0.0.1/32 scram-sha-256',
        '',
      ].join('\n'),
    );
    appendFileSync(join(this.dataDir, 'postgresql.conf'), "\ninclude 'silo.conf'\n");
    writeFileSync(
      join(this.dir, STATE_FILE),
      `${JSON.stringify({ port: this.port } satisfies ClusterState)}\n`,
    );
  }

  private exec(binary: string, args: string[], env: Record<string, string> = {}): Promise<void> {
    const [file, argv] = command(this.asPostgres, binary, args);
    return new Promise((resolvePromise, reject) => {
      // cwd: the postgres user may not be allowed into the caller's working directory.
      const child = spawn(file, argv, {
        cwd: this.dir,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) return resolvePromise();
        const tail = this.logTail();
        reject(
          new Error(
            `${binary} ${args.at(-1) ?? ''} (${this.dir}) exited with ${code}: ${output.trim()}` +
              (tail ? `\nserver log:\n${tail}` : ''),
          ),
        );
      });
    });
  }
}

/**
 * Stops and deletes the clusters of every directory under `root` whose owner process (OWNER_FILE)
 * is gone: those of a run that was killed before it cleaned up. Returns the directories removed.
 */
export function removeAbandonedClusters(
  root: string,
  accept: (name: string) => boolean = () => true,
): string[] {
  if (!existsSync(root)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(root)) {
    if (!accept(name)) continue;
    const dir = join(root, name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
    } catch {
      continue;
    }
    if (isAlive(owner)) continue;
    stopClustersUnder(dir);
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Marks `dir` as owned by this process (see removeAbandonedClusters). */
export function claimDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n`);
}

/** Stops at once every cluster in `dir` or one or two levels below it. Synchronous. */
export function stopClustersUnder(dir: string, depth = 2): void {
  if (!existsSync(dir)) return;
  if (existsSync(join(dir, 'data', 'PG_VERSION'))) stopClusterNow(dir);
  if (depth === 0) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name !== 'data' && entry.name !== 'archive')
      stopClustersUnder(join(dir, entry.name), depth - 1);
  }
}

/** An immediate shutdown of the cluster in `dir` if it may run. */
function stopClusterNow(dir: string): void {
  const dataDir = join(dir, 'data');
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  spawnSync(...command(runsAsRoot(), 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']), {
    cwd: dir,
    stdio: 'ignore',
  });
}

function runsAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A PostgreSQL binary with its arguments, run as the postgres OS user when `asPostgres`. */
function command(asPostgres: boolean, binary: string, args: string[]): [string, string[]] {
  const path = join(POSTGRES_BIN, binary);
  return asPostgres ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

let postgresIds: { uid: number; gid: number } | undefined;

function postgresUser(): { uid: number; gid: number } {
  if (postgresIds) return postgresIds;
  const id = (flag: string): number => {
    const result = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error('running as root needs a postgres OS user to own the cluster');
    return Number(result.stdout.trim());
  };
  postgresIds = { uid: id('-u'), gid: id('-g') };
  return postgresIds;
}

/** The postgres OS user must reach the cluster's directory through every directory above it. */
function makeTraversable(dir: string): void {
  for (let path = dir; ; path = dirname(path)) {
    const mode = statSync(path).mode;
    if ((mode & 0o001) === 0) chmodSync(path, (mode & 0o7777) | 0o001);
    if (dirname(path) === path) return;
  }
}

function quoteSetting(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
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

/** A TCP port on 127.0.0.1 that was free a moment ago, other than 5432. */
async function freeLoopbackPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolvePort, reject) => {
      const server = createServer();
      server.unref();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() =>
          typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
        );
      });
    });
    if (port !== RESERVED_PORT) return port;
  }
}
