/**
 * Real backups for the local instance backend, whose "RDS instances" are databases on private
 * PostgreSQL clusters (LocalPostgresCluster): the emulator answers CreateDBSnapshot,
 * RestoreDBInstanceFromDBSnapshot and RestoreDBInstanceToPointInTime with no data behind them,
 * so a restore saga run against it restores data with these functions instead.
 *
 * - Snapshots: {@link dumpLocalInstance} is a `pg_dump --format=custom` of one instance database;
 *   {@link restoreLocalInstanceFromDump} materialises a new instance (database and owner role)
 *   and restores a dump into it, every object owned by the new owner and without grants. Where
 *   the bytes are kept (the emulator's S3) is the caller's choice: a stream, a Buffer or a file.
 * - Point in time: {@link takeBaseBackup} copies a cluster with pg_basebackup into
 *   `<clusterDir>/base/<id>/`; with the WAL segments the cluster archives into
 *   `<clusterDir>/archive/`, {@link restoreLocalInstanceToPointInTime} recovers a copy of the
 *   newest base backup that ended before the requested time into a throwaway cluster, up to that
 *   time, and dumps the one database from it into a new instance.
 *
 * Limits: a point-in-time restore recovers the whole source cluster to extract one database, so
 * it costs a copy of the cluster plus the replay of every WAL segment archived since the base
 * backup (fine locally; take base backups more often to shorten it). Nothing prunes old base
 * backups or archived WAL. The source must be a LocalPostgresCluster on this machine (its files
 * are read directly) and its admin URL its superuser's; the target may be any server. Roles are
 * not part of a database: only the owner is made again; the tenant's app roles and grants are the
 * caller's to re-create. Times are compared with commit timestamps of the server's clock, which
 * is this machine's.
 */
import { quoteIdentifier } from '@silo/core';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { materialiseLocalInstance, type LocalInstance } from './local-instance-host';
import { LocalPostgresCluster, POSTGRES_BIN } from './local-postgres-cluster';
import { DEFAULT_CONNECT_TIMEOUT_MS, withPgClient } from './pg-endpoint';
import { assertUsablePassword } from './role-attributes';

/** Why a backup or restore of the local backend failed. */
export type LocalBackupErrorCode =
  /** The source cluster has no base backup: takeBaseBackup must run first. */
  | 'NO_BASE_BACKUP'
  /** The requested time is before the earliest base backup ended, or in the future. */
  | 'OUTSIDE_RESTORABLE_WINDOW'
  /** The target database already holds tables: restore into a new identifier. */
  | 'TARGET_NOT_EMPTY'
  /** The current WAL segment was not archived in time (archive_command failing?). */
  | 'ARCHIVE_STALLED'
  /** The throwaway cluster did not recover to the requested time. */
  | 'RECOVERY_FAILED'
  /** pg_dump, pg_restore or pg_basebackup failed; the message holds what it said. */
  | 'TOOL_FAILED';

/** A local backup or restore that failed. Never holds a password. */
export class LocalBackupError extends Error {
  override readonly name = 'LocalBackupError';
  constructor(
    readonly code: LocalBackupErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One base backup of a cluster, as {@link takeBaseBackup} recorded it. */
export interface BaseBackup {
  /** Its name under `<clusterDir>/base/`: the start time, ISO 8601 with `-` for `:` and `.`. */
  id: string;
  /** Its data directory (plain format, no WAL: that is in the cluster's archive). */
  dir: string;
  /** When pg_basebackup was started. */
  startedAt: Date;
  /** When pg_basebackup returned: the server had archived the backup's last WAL segment by then. */
  endedAt: Date;
  /** From its backup manifest: the WAL a recovery from it must replay at least. */
  startLsn: string;
  endLsn: string;
  timeline: number;
}

/** The times a point-in-time restore of a cluster accepts, both included. */
export interface RestorableWindow {
  /** When the oldest base backup ended: recovery is consistent from there on. */
  earliest: Date;
  /**
   * A moment just before the current WAL segment was switched out and archived: every
   * transaction committed by then is in the archive.
   */
  latest: Date;
}

/** A new instance to restore into: its database and owner role must not hold a tenant yet. */
export type RestoreTarget = Pick<LocalInstance, 'database' | 'ownerRole' | 'ownerPassword'>;

export interface RestoreFromDumpOptions extends RestoreTarget {
  /** A custom-format dump: a stream (read once), its bytes, or the path of a file holding it. */
  dump: Readable | Buffer | string;
}

export interface PointInTimeRestoreOptions {
  /** The live cluster's admin URL (its superuser's, as LocalPostgresCluster.adminUrl). */
  sourceAdminUrl: string;
  /** The instance database to bring back. */
  sourceDatabase: string;
  /** Its state as of this time: transactions committed at or before it, none after. */
  time: Date;
  /** The server of the new instance; the source's own or another. */
  targetAdminUrl: string;
  target: RestoreTarget;
  /**
   * Where the throwaway cluster is made (and deleted again), in `pitr-<random>/`. Best under a
   * directory whose clusters are cleaned up when their process dies (claimDirectory).
   */
  workDir: string;
  /** How long recovery may take. Default 120000. */
  recoveryTimeoutMs?: number;
}

export interface PointInTimeRestoreResult {
  /** The base backup the cluster was recovered from. */
  baseBackup: BaseBackup;
}

const APPLICATION_NAME = 'silo-local-backups';
const BASE_DIR = 'base';
const ARCHIVE_DIR = 'archive';
const STDERR_KEPT = 8192;
const ARCHIVE_TIMEOUT_MS = 30_000;
const POLL_MS = 100;

/**
 * Takes a base backup of the running `cluster` into `<cluster.dir>/base/<id>/` (pg_basebackup,
 * plain format, fast checkpoint) and records it in `<id>.json` beside that directory, written
 * last: a backup without its record is not listed. `-X none`: the WAL a recovery needs is in the
 * cluster's archive, which a point-in-time restore replays anyway, and the server returns only
 * once the backup's last segment is archived there; copying the WAL into each backup too would
 * only duplicate it. That wait costs about a second (the server looks at the archiver once a
 * second); `-X fetch` would save it at 16 MB of WAL per backup. Files are not fsynced for a
 * throwaway cluster.
 */
export async function takeBaseBackup(cluster: LocalPostgresCluster): Promise<BaseBackup> {
  const startedAt = new Date();
  const id = backupId(startedAt);
  const dir = join(cluster.dir, BASE_DIR, id);
  const url = new URL(cluster.adminUrl);
  try {
    await cluster.run(
      'pg_basebackup',
      [
        '--format=plain',
        '--wal-method=none',
        '--checkpoint=fast',
        '--no-password',
        `--label=silo-${id}`,
        ...(cluster.throwaway ? ['--no-sync'] : []),
        '-D',
        dir,
      ],
      connectionEnv(url),
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new LocalBackupError('TOOL_FAILED', `base backup of ${cluster.dir} failed: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const endedAt = new Date();
  const manifest = JSON.parse(readFileSync(join(dir, 'backup_manifest'), 'utf8')) as {
    'WAL-Ranges': { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[];
  };
  const range = manifest['WAL-Ranges'][0];
  if (!range)
    throw new LocalBackupError('TOOL_FAILED', `base backup ${dir} has no WAL range in its manifest`);
  const record: BackupRecord = {
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    startLsn: range['Start-LSN'],
    endLsn: range['End-LSN'],
    timeline: range.Timeline,
  };
  writeFileSync(`${dir}.json`, `${JSON.stringify(record)}\n`);
  return toBaseBackup(join(cluster.dir, BASE_DIR), id, record);
}

/** A base backup of `cluster`: the newest one it has, else a new one (for a cluster's start). */
export async function ensureBaseBackup(cluster: LocalPostgresCluster): Promise<BaseBackup> {
  return baseBackups(cluster.dir).at(-1) ?? takeBaseBackup(cluster);
}

/** The base backups of the cluster in `clusterDir`, oldest first. */
export function baseBackups(clusterDir: string): BaseBackup[] {
  const root = join(clusterDir, BASE_DIR);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => name.endsWith('.json'))
    .map((name) => {
      const id = name.slice(0, -'.json'.length);
      return toBaseBackup(root, id, JSON.parse(readFileSync(join(root, name), 'utf8')) as BackupRecord);
    })
    .filter((backup) => existsSync(backup.dir))
    .sort((a, b) => a.endedAt.getTime() - b.endedAt.getTime());
}

/**
 * The times the cluster behind `adminUrl` can be restored to. Archives the current WAL segment
 * first (a commit, pg_switch_wal(), then a wait for pg_stat_archiver to report it), so `latest`
 * is now, give or take the time that took.
 */
export async function restorableWindow(adminUrl: string): Promise<RestorableWindow> {
  const clusterDir = await clusterDirOf(adminUrl);
  const oldest = baseBackups(clusterDir)[0];
  if (!oldest)
    throw new LocalBackupError(
      'NO_BASE_BACKUP',
      `the cluster in ${clusterDir} has no base backup to restore from: take one with takeBaseBackup`,
    );
  return { earliest: oldest.endedAt, latest: await archiveCurrentWal(adminUrl) };
}

/**
 * A `pg_dump --format=custom` of the instance database `database` on the server behind
 * `adminUrl`, as the admin (so row-level security hides nothing), with its owners and grants (a
 * restore decides what to keep). Streamed as pg_dump writes it; the stream ends only after
 * pg_dump exited 0, else it fails with a {@link LocalBackupError}. Destroying it stops pg_dump.
 */
export function dumpLocalInstance(adminUrl: string, options: { database: string }): Readable {
  quoteIdentifier(options.database, 'database name');
  const url = new URL(adminUrl);
  const child = spawn(
    join(POSTGRES_BIN, 'pg_dump'),
    ['--format=custom', '--no-password', '--lock-wait-timeout=10000', `--dbname=${options.database}`],
    { env: connectionEnv(url), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = new PassThrough();
  // Ended by hand: stdout can end before the exit code says whether the dump is whole.
  child.stdout?.pipe(out, { end: false });
  outcome(child, `pg_dump of ${options.database}`, url).then(
    () => out.end(),
    (error: unknown) => out.destroy(error as Error),
  );
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return out;
}

/** A snapshot of a local instance, as {@link saveLocalSnapshot} recorded it beside its dump. */
export interface LocalSnapshot {
  snapshotIdentifier: string;
  instanceIdentifier: string;
  createdAt: string;
  /** The custom-format dump. */
  path: string;
}

const SNAPSHOT_DIR = 'snapshots';
/** RDS snapshot identifiers: letters, digits and hyphens (and `rds:` for automated ones, never saved here). */
const SNAPSHOT_ID = /^[a-zA-Z][a-zA-Z0-9-]{0,254}$/;

function snapshotFiles(clusterDir: string, snapshotIdentifier: string) {
  if (!SNAPSHOT_ID.test(snapshotIdentifier))
    throw new Error(`${JSON.stringify(snapshotIdentifier)} is not a snapshot identifier`);
  const dir = join(clusterDir, SNAPSHOT_DIR);
  return {
    dir,
    dump: join(dir, `${snapshotIdentifier}.dump`),
    record: join(dir, `${snapshotIdentifier}.json`),
  };
}

/**
 * The data behind an RDS snapshot of a local instance (CreateDBSnapshot, or a final snapshot
 * when it is deleted: the emulator keeps only the record): a dump of its database into
 * `<clusterDir>/snapshots/<snapshot id>.dump`, its record (`.json`, the instance and when) written
 * last, so that a snapshot without one is not there. Taken again, an existing one is kept.
 */
export async function saveLocalSnapshot(
  adminUrl: string,
  options: { database: string; snapshotIdentifier: string },
): Promise<LocalSnapshot> {
  const files = snapshotFiles(await clusterDirOf(adminUrl), options.snapshotIdentifier);
  const found = localSnapshotAt(files);
  if (found) return found;
  mkdirSync(files.dir, { recursive: true });
  const partial = `${files.dump}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await pipeline(dumpLocalInstance(adminUrl, { database: options.database }), createWriteStream(partial));
    renameSync(partial, files.dump);
  } finally {
    rmSync(partial, { force: true });
  }
  const snapshot: LocalSnapshot = {
    snapshotIdentifier: options.snapshotIdentifier,
    instanceIdentifier: options.database,
    createdAt: new Date().toISOString(),
    path: files.dump,
  };
  writeFileSync(files.record, `${JSON.stringify(snapshot)}\n`);
  return snapshot;
}

/** The saved snapshot `snapshotIdentifier` of the cluster behind `adminUrl`, or null. */
export async function localSnapshot(
  adminUrl: string,
  snapshotIdentifier: string,
): Promise<LocalSnapshot | null> {
  return localSnapshotAt(snapshotFiles(await clusterDirOf(adminUrl), snapshotIdentifier));
}

function localSnapshotAt(files: ReturnType<typeof snapshotFiles>): LocalSnapshot | null {
  if (!existsSync(files.record) || !existsSync(files.dump)) return null;
  return { ...(JSON.parse(readFileSync(files.record, 'utf8')) as LocalSnapshot), path: files.dump };
}

/**
 * Materialises the new instance `options` on the server behind `adminUrl` (materialiseLocalInstance:
 * its owner role and database) and restores the dump into it in one transaction, as that owner
 * (`--no-owner --role`): every object is the new owner's. Without grants (`--no-acl`): they name
 * the source tenant's app roles, which on another server do not exist (the restore would fail)
 * and on the same one would still be the source tenant's (they would reach the copy); the caller
 * makes the new instance's least-privilege roles afterwards. Publications, subscriptions (a
 * move's, which would start replicating) and security labels are left out too.
 *
 * Fails with TARGET_NOT_EMPTY, before restoring anything, when the database already holds
 * tables. A restore that failed leaves the new instance made but empty (one transaction), so it
 * can be run again, or the instance removed (removeLocalInstance).
 */
export async function restoreLocalInstanceFromDump(
  adminUrl: string,
  options: RestoreFromDumpOptions,
): Promise<void> {
  const { dump } = options;
  const stream = typeof dump === 'string' || Buffer.isBuffer(dump) ? undefined : dump;
  let dumpError: Error | undefined = stream?.errored ?? undefined;
  stream?.on('error', (error: Error) => (dumpError ??= error));
  // Listened to from the start: a pg_dump that fails at once has ended its stream before we pipe it.
  const dumped = new Promise<void>((resolveDump, rejectDump) => {
    if (dumpError) rejectDump(dumpError);
    stream?.once('end', resolveDump);
    stream?.once('error', rejectDump);
  });
  dumped.catch(() => undefined);
  try {
    quoteIdentifier(options.database, 'database name');
    quoteIdentifier(options.ownerRole, 'owner role');
    assertUsablePassword(options.ownerPassword, 'owner password');
    await materialiseLocalInstance(adminUrl, {
      database: options.database,
      ownerRole: options.ownerRole,
      ownerPassword: options.ownerPassword,
    });
  } catch (error) {
    // Unread, a dump stream would keep its pg_dump waiting.
    stream?.destroy();
    throw error;
  }
  const url = new URL(adminUrl);
  url.pathname = `/${options.database}`;
  const tables = await withPgClient(adminClientConfig(url.toString()), async (client) => {
    const found = await client.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1 LIMIT 3`,
    );
    return found.rows.map((row) => row.name);
  }).catch((error: unknown) => {
    stream?.destroy();
    throw error;
  });
  if (tables.length > 0) {
    stream?.destroy();
    throw new LocalBackupError(
      'TARGET_NOT_EMPTY',
      `database ${options.database} already holds tables (${tables.join(', ')}): restore into a new identifier`,
    );
  }
  if (dumpError) throw dumpError;

  const child = spawn(
    join(POSTGRES_BIN, 'pg_restore'),
    [
      `--dbname=${options.database}`,
      '--no-password',
      '--no-owner',
      `--role=${options.ownerRole}`,
      '--no-acl',
      '--no-publications',
      '--no-subscriptions',
      '--no-security-labels',
      '--no-tablespaces',
      '--single-transaction',
      '--exit-on-error',
      ...(typeof dump === 'string' ? [dump] : []),
    ],
    { env: connectionEnv(url), stdio: [typeof dump === 'string' ? 'ignore' : 'pipe', 'ignore', 'pipe'] },
  );
  const done = outcome(child, `pg_restore into ${options.database}`, url);
  const stdin = child.stdin;
  // pg_restore exiting early (a failed statement) closes its end; its exit code tells why.
  stdin?.on('error', () => undefined);
  if (Buffer.isBuffer(dump)) stdin?.end(dump);
  if (!stream || !stdin) return done;

  stream.pipe(stdin);
  try {
    await Promise.all([dumped, done]);
  } catch (error) {
    stream.destroy();
    child.kill('SIGTERM');
    await done.catch(() => undefined);
    // The dump's own failure says more than pg_restore's reaction to a cut stream.
    throw dumpError ?? error;
  }
}

/**
 * Restores the instance database `sourceDatabase` of the cluster behind `sourceAdminUrl` as it
 * was at `time` into a new instance `target` on `targetAdminUrl` (as restoreLocalInstanceFromDump).
 *
 * Archives the source's current WAL segment (restorableWindow), refuses a time outside the
 * window (OUTSIDE_RESTORABLE_WINDOW, naming it), copies the newest base backup that ended at or
 * before `time` into `workDir`, and starts it there as a throwaway cluster on a free loopback
 * port with `recovery.signal`: `restore_command` copies segments from the source's archive,
 * recovery stops after the last transaction committed at or before `time`
 * (`recovery_target_inclusive`) and promotes. Its `sourceDatabase` is then dumped into the
 * target. The throwaway cluster is stopped and deleted whatever happens; it never archives.
 */
export async function restoreLocalInstanceToPointInTime(
  options: PointInTimeRestoreOptions,
): Promise<PointInTimeRestoreResult> {
  quoteIdentifier(options.sourceDatabase, 'source database name');
  quoteIdentifier(options.target.database, 'database name');
  quoteIdentifier(options.target.ownerRole, 'owner role');
  assertUsablePassword(options.target.ownerPassword, 'owner password');
  if (Number.isNaN(options.time.getTime())) throw new Error('time must be a valid Date');

  const clusterDir = await clusterDirOf(options.sourceAdminUrl);
  const window = await restorableWindow(options.sourceAdminUrl);
  if (options.time < window.earliest || options.time > window.latest)
    throw new LocalBackupError(
      'OUTSIDE_RESTORABLE_WINDOW',
      `${options.time.toISOString()} is outside the restorable window of ${clusterDir}: ` +
        `${window.earliest.toISOString()} to ${window.latest.toISOString()}`,
    );
  const baseBackup = baseBackups(clusterDir)
    .filter((backup) => backup.endedAt <= options.time)
    .at(-1);
  // The window's earliest is the oldest backup's end, so one ended at or before the time.
  if (!baseBackup) throw new Error('no base backup ended before the time');

  const source = new URL(options.sourceAdminUrl);
  const cluster = await LocalPostgresCluster.fromCopy(
    { dir: join(options.workDir, `pitr-${randomBytes(4).toString('hex')}`), throwaway: true },
    baseBackup.dir,
    decodeURIComponent(source.password),
  );
  try {
    writeFileSync(join(cluster.dataDir, 'recovery.signal'), '');
    const archive = join(clusterDir, ARCHIVE_DIR);
    await cluster
      .start({
        restore_command: `cp "${archive}/%f" "%p"`,
        recovery_target_time: recoveryTime(options.time),
        recovery_target_inclusive: 'on',
        recovery_target_action: 'promote',
        recovery_target_timeline: 'current',
        // Its WAL must never reach anyone's archive, the source's least of all.
        archive_mode: 'off',
        // No queries before promotion, and so no need to match the source's hot standby limits.
        hot_standby: 'off',
      })
      .catch((error: unknown) => {
        throw new LocalBackupError(
          'RECOVERY_FAILED',
          `the recovering cluster did not start: ${messageOf(error)}`,
          { cause: error },
        );
      });
    await awaitPromotion(cluster, options.recoveryTimeoutMs ?? 120_000);
    await restoreLocalInstanceFromDump(options.targetAdminUrl, {
      ...options.target,
      dump: dumpLocalInstance(cluster.adminUrl, { database: options.sourceDatabase }),
    });
  } finally {
    cluster.remove();
  }
  return { baseBackup };
}

interface BackupRecord {
  startedAt: string;
  endedAt: string;
  startLsn: string;
  endLsn: string;
  timeline: number;
}

function toBaseBackup(root: string, id: string, record: BackupRecord): BaseBackup {
  return {
    id,
    dir: join(root, id),
    startedAt: new Date(record.startedAt),
    endedAt: new Date(record.endedAt),
    startLsn: record.startLsn,
    endLsn: record.endLsn,
    timeline: record.timeline,
  };
}

/** `YYYY-MM-DD HH:MM:SS.mmm+00`: the setting's parser takes neither ISO 8601's `T` nor its `Z`. */
function recoveryTime(at: Date): string {
  return at.toISOString().replace('T', ' ').replace('Z', '+00');
}

function backupId(at: Date): string {
  return at.toISOString().replace(/[:.]/g, '-');
}

/** The LocalPostgresCluster directory of the server behind `adminUrl`: its data directory's parent. */
/** The directory of the cluster behind `adminUrl` (its data directory's parent: base/, archive/, snapshots/). */
export async function clusterDirOf(adminUrl: string): Promise<string> {
  const dataDir = await withPgClient(adminClientConfig(adminUrl), async (client) => {
    const found = await client.query<{ data_directory: string }>('SHOW data_directory');
    return found.rows[0]?.data_directory ?? '';
  });
  return dirname(dataDir);
}

/**
 * Makes sure every transaction committed until now is in the archive, and returns that now: a
 * commit of its own (recovery to a time needs a commit after it, or it ends before its target),
 * pg_switch_wal(), then a wait until pg_stat_archiver reports the segment switched out.
 */
async function archiveCurrentWal(adminUrl: string): Promise<Date> {
  return withPgClient(adminClientConfig(adminUrl), async (client) => {
    const now = new Date();
    await client.query('SELECT pg_current_xact_id()');
    const switched = await client.query<{ segment: string }>(
      'SELECT pg_walfile_name(pg_switch_wal()) AS segment',
    );
    const segment = switched.rows[0]?.segment ?? '';
    const deadline = Date.now() + ARCHIVE_TIMEOUT_MS;
    for (;;) {
      const archiver = await client.query<{ archived: string | null; failed: string | null }>(
        'SELECT last_archived_wal AS archived, last_failed_wal AS failed FROM pg_stat_archiver',
      );
      const { archived, failed } = archiver.rows[0] ?? { archived: null, failed: null };
      // Names of one timeline sort in WAL order.
      if (archived !== null && archived >= segment) return now;
      if (Date.now() > deadline)
        throw new LocalBackupError(
          'ARCHIVE_STALLED',
          `WAL segment ${segment} was not archived within ${ARCHIVE_TIMEOUT_MS} ms (last archived ${archived ?? 'none'}, last failed ${failed ?? 'none'})`,
        );
      await delay(POLL_MS);
    }
  });
}

/** Waits until the recovering cluster has reached its target and promoted itself. */
async function awaitPromotion(cluster: LocalPostgresCluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Refused (57P03) until recovery ends: hot_standby is off.
    const inRecovery = await withPgClient(adminClientConfig(cluster.adminUrl), async (client) => {
      const found = await client.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering');
      return found.rows[0]?.recovering ?? true;
    }).catch(() => true);
    if (!inRecovery) return;
    if (!cluster.running() || Date.now() > deadline)
      throw new LocalBackupError(
        'RECOVERY_FAILED',
        `the recovering cluster ${cluster.running() ? `did not promote within ${timeoutMs} ms` : 'stopped'}:\n${cluster.logTail()}`,
      );
    await delay(POLL_MS);
  }
}

function adminClientConfig(adminUrl: string) {
  return {
    connectionString: adminUrl,
    connectionTimeoutMillis: DEFAULT_CONNECT_TIMEOUT_MS,
    application_name: APPLICATION_NAME,
  };
}

/** libpq's variables for the URL's server and user: nothing on a command line, no PG* of ours. */
function connectionEnv(url: URL): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PGHOST: url.hostname,
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username),
    PGPASSWORD: decodeURIComponent(url.password),
    PGAPPNAME: APPLICATION_NAME,
    PGCONNECT_TIMEOUT: String(Math.ceil(DEFAULT_CONNECT_TIMEOUT_MS / 1000)),
    PGSSLMODE: 'disable',
  };
}

/** Resolves when the child exits 0, else fails with what it said on stderr (the password scrubbed). */
function outcome(child: ChildProcess, what: string, url: URL): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < STDERR_KEPT) stderr = (stderr + chunk).slice(0, STDERR_KEPT);
  });
  return new Promise((resolvePromise, reject) => {
    child.on('error', (error) =>
      reject(
        new LocalBackupError('TOOL_FAILED', `${what} could not be started: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolvePromise();
      const said = scrub(stderr.trim(), decodeURIComponent(url.password));
      reject(
        new LocalBackupError(
          'TOOL_FAILED',
          `${what} failed (${code === null ? `signal ${signal}` : `exit ${code}`})${said ? `: ${said}` : ''}`,
        ),
      );
    });
  });
}

function scrub(text: string, password: string): string {
  return password ? text.split(password).join('[redacted]') : text;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
