import { assertNever, ProvisioningError, ProvisioningErrorCode, quoteIdentifier } from '@silo/core';
import {
  claimDirectory,
  handOverLocalInstance,
  LocalBackupError,
  removeAbandonedClusters,
  localSnapshot,
  materialiseLocalInstance,
  removeLocalInstance,
  renameLocalInstance,
  restoreLocalInstanceFromDump,
  restoreLocalInstanceToPointInTime,
  saveLocalSnapshot,
} from '@silo/tenant-schema';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { classifyPgError } from '../tenant-database-errors';
import {
  restoredFrom,
  type RestoredInstance,
  type StartedInstance,
  type TenantDatabaseEndpoint,
  type TenantDatabaseHost,
} from './tenant-database-host';

/** A shared host's instance identifier (`<prefix>-host-pool-starter-001`). */
const HOST_INSTANCE = /-host-(pool|schema)-[a-z]+-\d{3,6}$/;
/**
 * Where point-in-time restores make their throwaway clusters: a directory per process, claimed
 * by it, so that one left by a process that was killed mid-restore (its postmaster outlives it)
 * is stopped and removed by the next process that restores.
 */
const RESTORE_WORK_DIR = join(tmpdir(), 'silo-restores');
/** How a restored database's comment begins: the restore it holds (see {@link LocalPostgresDatabaseHost.restore}). */
const RESTORE_MARK = 'silo:restore ';
const CONNECT_TIMEOUT_MS = 5000;

/** The restore a database holds, as its comment records it. */
interface RestoreMark {
  from: string;
  pointInTime: string;
  /** pending: written before the data, done: after it. */
  state: 'pending' | 'done';
}

/**
 * Local instance backend: each tenant instance becomes a database (named after the instance
 * identifier) owned by a role with the master secret's credentials, on the PostgreSQL server
 * at `adminUrl`; each shared host's instance likewise on `hostAdminUrl` (default the same
 * server). The published endpoint is that server's, not the emulator's.
 *
 * Roles belong to a server, not to a database: a tenant moved between a shared host and an
 * instance has logins of the same names on both, which only two servers keep apart.
 */
export class LocalPostgresDatabaseHost implements TenantDatabaseHost {
  readonly kind = 'local';

  constructor(
    private readonly instanceAdminUrl: string,
    private readonly hostAdminUrl: string = instanceAdminUrl,
  ) {}

  /** The admin URL of the server an instance lives on. */
  private adminUrlOf(identifier: string): string {
    return HOST_INSTANCE.test(identifier) ? this.hostAdminUrl : this.instanceAdminUrl;
  }

  private serverOf(identifier: string): { host: string; port: number } {
    const url = new URL(this.adminUrlOf(identifier));
    return { host: url.hostname, port: Number(url.port || 5432) };
  }

  async start(instance: StartedInstance): Promise<TenantDatabaseEndpoint> {
    try {
      await materialiseLocalInstance(this.adminUrlOf(instance.identifier), {
        database: instance.identifier,
        ownerRole: instance.masterUsername,
        ownerPassword: instance.masterPassword,
      });
    } catch (error) {
      throw classifyPgError(error, `materialising ${instance.identifier} on the local backend`);
    }
    return this.endpointOf(instance);
  }

  endpointOf(instance: Pick<StartedInstance, 'identifier'>): TenantDatabaseEndpoint {
    return { ...this.serverOf(instance.identifier), database: instance.identifier, ssl: false };
  }

  async setMasterPassword(instance: {
    identifier: string;
    masterUsername: string;
    password: string;
  }): Promise<void> {
    // The same convergence as start: the owner role gets the password, nothing else changes.
    await this.start({
      identifier: instance.identifier,
      rdsEndpoint: null,
      masterUsername: instance.masterUsername,
      masterPassword: instance.password,
    });
  }

  replicationLogin(identifier: string): { username: string; password: string } {
    const url = new URL(this.adminUrlOf(identifier));
    return { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  }

  /**
   * Restores the source instance's database as of `from.pointInTime` into a new instance
   * (restoreLocalInstanceToPointInTime: a throwaway cluster recovered from the source server's
   * base backup and WAL archive, in `<os tmpdir>/silo-restores`), owned by the master user.
   *
   * Which restore a database holds is its COMMENT ON DATABASE, `silo:restore {from, pointInTime,
   * state}`: `pending` written into the new, empty database before the data, `done` after it. A
   * re-run (after a crash) that finds this restore `done`, or `pending` with tables (the data is
   * restored in one transaction: tables mean all of it), only converges the owner's password.
   * A database holding tables of anything else is RESOURCE_NAME_TAKEN and left alone. Re-runs on
   * one server take turns (a session advisory lock on the identifier).
   *
   * A time outside the source's restorable window, or a source server without a base backup, is
   * AWS_REJECTED, as RDS refuses them; an archive that does not keep up is retryable.
   */
  async restore(spec: RestoredInstance): Promise<TenantDatabaseEndpoint> {
    const { from } = spec;
    const doing = `restoring ${restoredFrom(from)} into ${spec.identifier} on the local backend`;
    if ('sourceIdentifier' in from && spec.identifier === from.sourceIdentifier)
      throw new ProvisioningError(ProvisioningErrorCode.AWS_REJECTED, `${doing}: the target is the source`);
    const adminUrl = this.adminUrlOf(spec.identifier);
    const wanted =
      'snapshotIdentifier' in from
        ? { from: `snapshot:${from.snapshotIdentifier}`, pointInTime: '' }
        : { from: from.sourceIdentifier, pointInTime: from.pointInTime.toISOString() };
    const target = {
      database: spec.identifier,
      ownerRole: spec.masterUsername,
      ownerPassword: spec.masterPassword,
    };
    try {
      await withAdminClient(adminUrl, async (admin) => {
        // Session-level: held across the restore's own connections, released when the client ends.
        await admin.query('SELECT pg_advisory_lock(hashtext($1))', [`silo:local-restore:${spec.identifier}`]);
        const mark = await restoreMarkOf(admin, spec.identifier);
        const ours = mark?.from === wanted.from && mark.pointInTime === wanted.pointInTime;
        const tables = await tablesOf(adminUrl, spec.identifier);
        if (ours && (mark.state === 'done' || tables.length > 0)) {
          await materialiseLocalInstance(adminUrl, target);
          await markRestore(admin, spec.identifier, { ...wanted, state: 'done' });
          return;
        }
        if (tables.length > 0)
          throw new ProvisioningError(
            ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
            `${doing}: database ${spec.identifier} already holds tables (${tables.join(', ')}) that are not this restore's; it was left untouched`,
          );
        // A snapshot's data must be there before anything is made for the restore.
        const saved = 'snapshotIdentifier' in from ? await this.savedSnapshot(from.snapshotIdentifier) : null;
        if ('snapshotIdentifier' in from && !saved)
          throw new ProvisioningError(
            ProvisioningErrorCode.AWS_REJECTED,
            `${doing}: the local backend holds no data for snapshot ${from.snapshotIdentifier} (taken before it kept snapshots, or by hand)`,
          );
        await materialiseLocalInstance(adminUrl, target);
        await markRestore(admin, spec.identifier, { ...wanted, state: 'pending' });
        if (saved) await restoreLocalInstanceFromDump(adminUrl, { ...target, dump: saved.path });
        else if ('sourceIdentifier' in from)
          await restoreLocalInstanceToPointInTime({
            sourceAdminUrl: this.adminUrlOf(from.sourceIdentifier),
            sourceDatabase: from.sourceIdentifier,
            time: from.pointInTime,
            targetAdminUrl: adminUrl,
            target,
            workDir: this.restoreWorkDir(),
          });
        await markRestore(admin, spec.identifier, { ...wanted, state: 'done' });
      });
    } catch (error) {
      throw restoreError(error, doing);
    }
    return this.endpointOf(spec);
  }

  /**
   * A dump of the instance's database under the snapshot's name, kept with its server's cluster
   * (`<cluster>/snapshots/`), where a restore from the snapshot finds it.
   */
  async snapshot(spec: { identifier: string; snapshotIdentifier: string }): Promise<void> {
    try {
      await saveLocalSnapshot(this.adminUrlOf(spec.identifier), {
        database: spec.identifier,
        snapshotIdentifier: spec.snapshotIdentifier,
      });
    } catch (error) {
      throw restoreError(
        error,
        `keeping the data of snapshot ${spec.snapshotIdentifier} of ${spec.identifier}`,
      );
    }
  }

  private claimedWorkDir?: string;

  /** This process's directory under RESTORE_WORK_DIR; those of processes that are gone are removed first. */
  private restoreWorkDir(): string {
    if (!this.claimedWorkDir) {
      removeAbandonedClusters(RESTORE_WORK_DIR);
      this.claimedWorkDir = join(RESTORE_WORK_DIR, `process-${process.pid}`);
      claimDirectory(this.claimedWorkDir);
    }
    return this.claimedWorkDir;
  }

  /** A snapshot's saved data on either server (instances' or shared hosts'). */
  private async savedSnapshot(snapshotIdentifier: string) {
    for (const url of new Set([this.instanceAdminUrl, this.hostAdminUrl])) {
      const found = await localSnapshot(url, snapshotIdentifier);
      if (found) return found;
    }
    return null;
  }

  async rename(spec: { from: string; to: string }): Promise<void> {
    if (this.adminUrlOf(spec.from) !== this.adminUrlOf(spec.to))
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `cannot rename ${spec.from} to ${spec.to}: the local backend keeps them on two servers`,
      );
    try {
      await renameLocalInstance(this.adminUrlOf(spec.from), spec);
    } catch (error) {
      throw classifyPgError(error, `renaming ${spec.from} to ${spec.to} on the local backend`);
    }
  }

  async handOver(spec: {
    identifier: string;
    masterUsername: string;
    password: string;
    previousOwner: string;
  }): Promise<void> {
    try {
      await handOverLocalInstance(this.adminUrlOf(spec.identifier), {
        database: spec.identifier,
        ownerRole: spec.masterUsername,
        ownerPassword: spec.password,
        previousOwner: spec.previousOwner,
      });
    } catch (error) {
      throw classifyPgError(
        error,
        `handing ${spec.identifier} to ${spec.masterUsername} on the local backend`,
      );
    }
  }

  async remove(instance: { identifier: string; roles: string[] }): Promise<void> {
    try {
      await removeLocalInstance(this.adminUrlOf(instance.identifier), {
        database: instance.identifier,
        roles: instance.roles,
      });
    } catch (error) {
      throw classifyPgError(error, `removing ${instance.identifier} from the local backend`);
    }
  }
}

/** A failed local restore as a {@link ProvisioningError}, classified as RDS's answers would be. */
function restoreError(error: unknown, doing: string): ProvisioningError {
  if (!(error instanceof LocalBackupError)) return classifyPgError(error, doing);
  const code = ((): ProvisioningErrorCode => {
    switch (error.code) {
      case 'OUTSIDE_RESTORABLE_WINDOW':
      case 'NO_BASE_BACKUP':
        return ProvisioningErrorCode.AWS_REJECTED;
      case 'TARGET_NOT_EMPTY':
        return ProvisioningErrorCode.RESOURCE_NAME_TAKEN;
      case 'ARCHIVE_STALLED':
        return ProvisioningErrorCode.DATABASE_UNAVAILABLE;
      case 'RECOVERY_FAILED':
      case 'TOOL_FAILED':
        return ProvisioningErrorCode.DATABASE_REJECTED;
      default:
        return assertNever(error.code, 'local backup error code');
    }
  })();
  return new ProvisioningError(code, `${doing} failed: ${error.message}`, { cause: error });
}

async function withAdminClient<T>(adminUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({
    connectionString: adminUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'silo-local-restores',
  });
  // A connection lost between queries fails the next query; unheard, the event would crash the worker.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function restoreMarkOf(admin: Client, database: string): Promise<RestoreMark | undefined> {
  const found = await admin.query<{ comment: string | null }>(
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
    [database],
  );
  const comment = found.rows[0]?.comment;
  if (!comment?.startsWith(RESTORE_MARK)) return undefined;
  try {
    const mark = JSON.parse(comment.slice(RESTORE_MARK.length)) as Partial<RestoreMark>;
    return typeof mark.from === 'string' &&
      typeof mark.pointInTime === 'string' &&
      (mark.state === 'pending' || mark.state === 'done')
      ? (mark as RestoreMark)
      : undefined;
  } catch {
    return undefined;
  }
}

async function markRestore(admin: Client, database: string, mark: RestoreMark): Promise<void> {
  const comment = admin.escapeLiteral(`${RESTORE_MARK}${JSON.stringify(mark)}`);
  await admin.query(`COMMENT ON DATABASE ${quoteIdentifier(database, 'database name')} IS ${comment}`);
}

/** A few of the database's tables (none when it does not exist). */
async function tablesOf(adminUrl: string, database: string): Promise<string[]> {
  const exists = await withAdminClient(adminUrl, (admin) =>
    admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]),
  );
  if (!exists.rowCount) return [];
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return withAdminClient(url.toString(), async (client) => {
    const found = await client.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1 LIMIT 3`,
    );
    return found.rows.map((row) => row.name);
  });
}
