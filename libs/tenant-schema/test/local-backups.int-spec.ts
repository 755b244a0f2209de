import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from 'pg';
import {
  dumpLocalInstance,
  LocalBackupError,
  materialiseLocalInstance,
  restorableWindow,
  restoreLocalInstanceFromDump,
  restoreLocalInstanceToPointInTime,
  takeBaseBackup,
  type BaseBackup,
  type RestoreTarget,
} from '../src';
import { LocalPostgresCluster } from '../src/local-postgres-cluster';

// Under the run's directory when there is one: its teardown stops what a crash would leave running.
const root = join(
  process.env.SILO_TEST_CLUSTERS_DIR ?? resolve(__dirname, '../../../.cache/test-clusters'),
  `local-backups-${randomBytes(3).toString('hex')}`,
);
const workDir = join(root, 'work');

const SOURCE: RestoreTarget = {
  database: 'silo-bk-src',
  ownerRole: 'silo_bk_src_admin',
  ownerPassword: 'src-pw',
};
const APP_ROLE = 'silo_bk_src_app';

let source: LocalPostgresCluster;
let other: LocalPostgresCluster;
let firstBackup: BaseBackup;
let noted: Date;

function target(name: string): RestoreTarget {
  return {
    database: `silo-bk-${name}`,
    ownerRole: `silo_bk_${name}_admin`,
    ownerPassword: `${name}-pw-${randomBytes(6).toString('hex')}`,
  };
}

/** Connects as the instance's owner, over SCRAM as a tenant would, and runs `work`. */
async function asOwner<T>(
  cluster: LocalPostgresCluster,
  t: RestoreTarget,
  work: (c: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({
    host: '127.0.0.1',
    port: cluster.port,
    database: t.database,
    user: t.ownerRole,
    password: t.ownerPassword,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function notes(cluster: LocalPostgresCluster, t: RestoreTarget) {
  return asOwner(cluster, t, async (c) => {
    const rows = await c.query('SELECT id, body FROM notes ORDER BY id');
    // relacl NULL: the owner's default privileges, no grant to anyone.
    const facts = await c.query(
      `SELECT pg_get_userbyid(relowner) AS owner, relacl AS grants FROM pg_class WHERE relname = 'notes'`,
    );
    return { rows: rows.rows, ...facts.rows[0] };
  });
}

/** Processes whose command line names `dir`: a postmaster started on a data directory under it. */
function processesUnder(dir: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

beforeAll(async () => {
  [source, other] = await Promise.all(
    ['source', 'other'].map(async (name) => {
      const cluster = await LocalPostgresCluster.open({ dir: join(root, name), throwaway: true });
      await cluster.start();
      return cluster;
    }),
  );
  mkdirSync(workDir, { recursive: true });
  firstBackup = await takeBaseBackup(source);

  await materialiseLocalInstance(source.adminUrl, SOURCE);
  await asOwner(source, SOURCE, async (c) => {
    await c.query('CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)');
    await c.query(`INSERT INTO notes VALUES (1, 'first'), (2, 'second'), (3, 'third')`);
    // An app role of the source's: only the source's server has it.
    await c.query(`CREATE ROLE ${APP_ROLE} LOGIN`);
    await c.query(`GRANT SELECT ON notes TO ${APP_ROLE}`);
  });
  // Commit timestamps on both sides of the noted time, well apart from it.
  await delay(1000);
  noted = new Date();
  await delay(1000);
  await asOwner(source, SOURCE, async (c) => {
    await c.query(`INSERT INTO notes VALUES (4, 'fourth')`);
    await c.query('DELETE FROM notes WHERE id = 1');
    await c.query(`UPDATE notes SET body = 'second, edited' WHERE id = 2`);
  });
  // Ends after the noted time, so a restore to it must start from the first.
  await takeBaseBackup(source);
}, 30_000);

afterAll(() => {
  source?.remove();
  other?.remove();
  rmSync(root, { recursive: true, force: true });
});

describe('local backups', () => {
  it('restores a dump into a new instance, every object its new owner’s and no grant kept', async () => {
    const copy = target('dump');
    await restoreLocalInstanceFromDump(source.adminUrl, {
      ...copy,
      dump: dumpLocalInstance(source.adminUrl, { database: SOURCE.database }),
    });

    expect(await notes(source, copy)).toEqual({
      rows: [
        { id: 2, body: 'second, edited' },
        { id: 3, body: 'third' },
        { id: 4, body: 'fourth' },
      ],
      owner: copy.ownerRole,
      // Not even to the source's app role, which this server has.
      grants: null,
    });
    await expect(
      restoreLocalInstanceFromDump(source.adminUrl, {
        ...copy,
        dump: dumpLocalInstance(source.adminUrl, { database: SOURCE.database }),
      }),
    ).rejects.toMatchObject({ code: 'TARGET_NOT_EMPTY' });
  });

  it('restores an instance as it was at a time, onto another server, from the newest base backup before it', async () => {
    const copy = target('pitr');
    const result = await restoreLocalInstanceToPointInTime({
      sourceAdminUrl: source.adminUrl,
      sourceDatabase: SOURCE.database,
      time: noted,
      targetAdminUrl: other.adminUrl,
      target: copy,
      workDir,
    });

    expect(result.baseBackup.id).toBe(firstBackup.id);
    expect(await notes(other, copy)).toEqual({
      rows: [
        { id: 1, body: 'first' },
        { id: 2, body: 'second' },
        { id: 3, body: 'third' },
      ],
      owner: copy.ownerRole,
      grants: null,
    });
  }, 30_000);

  it('refuses a time outside the restorable window, naming the window', async () => {
    const before = new Date();
    const window = await restorableWindow(source.adminUrl);
    expect(window.earliest).toEqual(firstBackup.endedAt);
    expect(window.latest.getTime()).toBeGreaterThanOrEqual(before.getTime());

    const restore = (time: Date) =>
      restoreLocalInstanceToPointInTime({
        sourceAdminUrl: source.adminUrl,
        sourceDatabase: SOURCE.database,
        time,
        targetAdminUrl: other.adminUrl,
        target: target('never'),
        workDir,
      });
    const early = await restore(new Date(firstBackup.startedAt.getTime() - 60_000)).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(LocalBackupError);
    expect(early).toMatchObject({ code: 'OUTSIDE_RESTORABLE_WINDOW' });
    expect((early as Error).message).toContain(`${firstBackup.endedAt.toISOString()} to `);
    await expect(restore(new Date(Date.now() + 60_000))).rejects.toMatchObject({
      code: 'OUTSIDE_RESTORABLE_WINDOW',
    });
  }, 15_000);

  it('leaves no throwaway cluster behind, a failed restore included', async () => {
    await expect(
      restoreLocalInstanceToPointInTime({
        sourceAdminUrl: source.adminUrl,
        sourceDatabase: 'silo-bk-missing',
        time: noted,
        targetAdminUrl: other.adminUrl,
        target: target('failed'),
        workDir,
      }),
    ).rejects.toMatchObject({ code: 'TOOL_FAILED', message: expect.stringContaining('silo-bk-missing') });

    expect(readdirSync(workDir)).toEqual([]);
    expect(processesUnder(workDir)).toEqual([]);
  }, 30_000);
});
