import { isPlacement, isTenantId, quoteIdentifier, type Placement } from '@silo/core';
import type { Client } from 'pg';
import { pgClientConfig, withPgClient, type PgEndpoint } from '../pg-endpoint';
import { TENANT_ID_COLUMN, TENANT_SETTING } from '../placements/tenant-isolation';

const APPLICATION_NAME = 'silo-tenant-move';
/** The schema on a move's source (and target) that holds what moves need: markers, freezes, the guard. */
export const MOVES_SCHEMA = 'silo_moves';
/** SQLSTATE the source answers a moving tenant's writes with once they are paused or switched. */
export const MOVED_TENANT_SQLSTATE = '25006';

/** One side of a move: a database Silo reaches as a role that may replicate, and where the tenant's tables are. */
export interface CopySide {
  /** As a role that can create publications and replication slots (source) or subscriptions (target). */
  endpoint: PgEndpoint;
  placement: Placement;
  /** The schema holding the tenant's tables: `app`, or a schema tenant's own. */
  schema: string;
}

/**
 * A copy of one tenant's rows from a source database to a target one by PostgreSQL logical
 * replication: a publication on the source (with a row filter on `tenant_id` when the source is
 * a pool), a slot made on the source beforehand (so that source and target may share a server),
 * and a subscription on the target with the initial copy, then streaming changes.
 *
 * Subscriptions match tables by schema and name. Where the two schemas differ (a schema
 * tenant's `acme` to an instance's `app`, or an instance's or a pool's `app` into `acme` on a
 * schema host), the target's schema is renamed to the source's while the copy runs and back at
 * the end: the target schema is the tenant's alone until the switch, and a rename keeps every
 * table, index, sequence, policy and grant. The staged schema carries the move's mark (its
 * comment), so that two moves into one schema host take turns rather than each other's schema.
 */
export interface TenantCopyPlan {
  /** The move's id (a uuid): the replication objects are named after it. */
  moveId: string;
  tenantId: string;
  source: CopySide;
  target: CopySide;
  /**
   * How the target reaches the source for replication, when not as Silo does (a host name inside
   * the VPC). Its user needs REPLICATION and must see every row of the tenant (RLS bypassed).
   */
  replicationEndpoint?: PgEndpoint;
}

/** The names of one move's replication objects. */
export function copyObjectNames(moveId: string) {
  if (!isTenantId(moveId)) throw new Error(`${JSON.stringify(moveId)} is not a move id (a uuid)`);
  const hex = moveId.replace(/-/g, '');
  const base = `silo_move_${hex.slice(0, 20)}`;
  return { publication: base, slot: base, subscription: base, trigger: base };
}

/** A copy whose two sides do not agree, or cannot agree; the message names the table. */
export class TenantCopyError extends Error {
  override readonly name = 'TenantCopyError';
  constructor(
    readonly code:
      | 'source-table-unsupported'
      | 'target-table-missing'
      | 'target-not-empty'
      | 'target-busy'
      | 'rows-differ'
      | 'freeze-timeout'
      | 'catch-up-timeout'
      | 'copy-missing',
    message: string,
  ) {
    super(message);
  }
}

/** What the copy has done so far. */
export interface CopyProgress {
  /** Tables whose initial copy is finished, of all published. */
  tablesCopied: number;
  tables: number;
  /** Every table copied and changes streaming. */
  streaming: boolean;
  /** WAL the target has not confirmed yet, in bytes (null when the slot is not in use yet). */
  lagBytes: number | null;
  /**
   * Errors the subscription's workers met so far (an initial copy or an apply that failed, for
   * example a key the target already holds); PostgreSQL retries them, the server's log says why.
   */
  errors: number;
}

/** One table's rows of the tenant on one side. */
export interface TableDigest {
  table: string;
  rows: number;
  checksum: string;
}

/** What {@link cutOverCopy} found and did. */
export interface CutOverResult {
  tables: Array<{ table: string; rows: number; checksum: string }>;
  /** From taking the source's write lock to the durable freeze: what the tenant's writes waited. */
  frozenForMs: number;
  sequencesSet: number;
}

function checkedPlan(plan: TenantCopyPlan) {
  if (!isTenantId(plan.tenantId)) throw new Error(`${JSON.stringify(plan.tenantId)} is not a tenant id`);
  for (const side of [plan.source, plan.target]) {
    if (!isPlacement(side.placement)) throw new Error(`${String(side.placement)} is not a placement`);
    quoteIdentifier(side.schema, 'tenant schema');
  }
  if (plan.source.placement === 'schema' && plan.target.placement === 'pool')
    throw new Error(
      "a schema tenant's tables cannot stream into a pool's shared tables (their schemas differ and a pool's cannot be renamed)",
    );
  return { ...plan, names: copyObjectNames(plan.moveId) };
}

const connect = <T>(endpoint: PgEndpoint, work: (client: Client) => Promise<T>) =>
  withPgClient(pgClientConfig(endpoint, APPLICATION_NAME), work);

/** The 64-bit advisory lock key of a tenant's move guard, the same on every server. */
const guardKeySql = (tenantLiteral: string) =>
  `('x' || substr(md5('silo-move:' || ${tenantLiteral}), 1, 16))::bit(64)::bigint`;

/** A libpq connection string for `endpoint`, each value quoted. */
export function conninfo(endpoint: PgEndpoint): string {
  const quote = (value: string | number) => `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const ssl = endpoint.ssl === undefined || endpoint.ssl === false ? 'disable' : 'require';
  return [
    `host=${quote(endpoint.host)}`,
    `port=${quote(endpoint.port)}`,
    `dbname=${quote(endpoint.database)}`,
    `user=${quote(endpoint.user)}`,
    `password=${quote(endpoint.password)}`,
    `sslmode=${ssl}`,
    `application_name=${quote(APPLICATION_NAME)}`,
  ].join(' ');
}

/** The tenant's tables in a schema: ordinary tables only, sorted. */
async function tablesOf(client: Client, schema: string): Promise<Array<{ name: string; kind: string }>> {
  const { rows } = await client.query<{ name: string; kind: string }>(
    `SELECT c.relname AS name, c.relkind::text AS kind FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
    [schema],
  );
  return rows;
}

async function hasTenantColumn(client: Client, schema: string, table: string): Promise<boolean> {
  const { rows } = await client.query(
    `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`,
    [schema, table, TENANT_ID_COLUMN],
  );
  return rows.length > 0;
}

/**
 * The source's bookkeeping: markers (streamed to the target to say "everything before me is
 * there"), freezes (a moved tenant's writes refused for good), tables this move switched to
 * REPLICA IDENTITY FULL, and the guard the tenant's tables call before each write.
 */
async function ensureMovesSchema(client: Client): Promise<void> {
  // Two moves on one server make it at once: IF NOT EXISTS alone can still meet the catalog's
  // unique index, so its making is serialised (the lock ends with the transaction).
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('silo-move:${MOVES_SCHEMA}'))`);
    await createMovesSchema(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function createMovesSchema(client: Client): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${MOVES_SCHEMA}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${MOVES_SCHEMA}.markers (move_id uuid NOT NULL, n integer NOT NULL, PRIMARY KEY (move_id, n))`,
  );
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${MOVES_SCHEMA}.frozen (tenant_id uuid PRIMARY KEY, move_id uuid NOT NULL, frozen_at timestamptz NOT NULL DEFAULT now())`,
  );
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${MOVES_SCHEMA}.full_identity (move_id uuid NOT NULL, table_schema name NOT NULL, table_name name NOT NULL, PRIMARY KEY (move_id, table_schema, table_name))`,
  );
  // SECURITY DEFINER: the tenant's login needs no grant on this schema. The advisory lock is
  // not MVCC: a transaction whose snapshot predates a freeze is refused all the same.
  await client.query(
    `CREATE OR REPLACE FUNCTION ${MOVES_SCHEMA}.guard() RETURNS trigger
       LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $guard$
     DECLARE
       tenant uuid := TG_ARGV[0]::uuid;
       row_tenant text;
     BEGIN
       IF TG_LEVEL = 'ROW' THEN
         row_tenant := COALESCE(to_jsonb(NEW) ->> 'tenant_id', to_jsonb(OLD) ->> 'tenant_id');
         IF row_tenant IS DISTINCT FROM tenant::text THEN RETURN COALESCE(NEW, OLD); END IF;
       END IF;
       IF EXISTS (SELECT 1 FROM ${MOVES_SCHEMA}.frozen f WHERE f.tenant_id = tenant)
          OR NOT pg_try_advisory_xact_lock_shared(${guardKeySql('tenant::text')}) THEN
         RAISE EXCEPTION 'tenant % is moving: its writes are paused here', tenant
           USING ERRCODE = '${MOVED_TENANT_SQLSTATE}', HINT = 'retry: the tenant is served from its new place shortly';
       END IF;
       RETURN COALESCE(NEW, OLD);
     END
     $guard$`,
  );
}

/** Runs DDL that may race a concurrent run of the same step: a duplicate is done. */
async function idempotent(client: Client, sql: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '42710' || code === '42P07' || code === '42P06') return; // duplicate object
    throw error;
  }
}

/**
 * Starts (or finds started) the copy: the source's guard triggers, publication and slot, the
 * target's schema renamed to the source's where they differ, and the subscription with its
 * initial copy. Idempotent. The target must hold the tenant's tables, migrated to the source's
 * version, and none of the tenant's rows.
 */
export async function startTenantCopy(input: TenantCopyPlan): Promise<{ tables: string[] }> {
  const plan = checkedPlan(input);
  const { source, target, names, tenantId } = plan;
  const tenant = `'${tenantId}'`;

  // The target's schema takes the source's name first (marked as this move's, under a lock): a
  // move that finds the name another move's (two moves into one shared host) waits its turn
  // before it holds anything on its source (guards, a slot, a pool's full replica identity).
  if (target.schema !== source.schema)
    await connect(target.endpoint, async (client) => {
      const subscribed = await client.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [
        names.subscription,
      ]);
      if (subscribed.rows.length === 0) await stageSchema(client, plan.moveId, target.schema, source.schema);
    });

  const tables = await connect(source.endpoint, async (client) => {
    // A trigger or replica identity change on a pool's table waits for its writers: briefly, or
    // this step fails (and is retried) rather than queue every tenant of the host behind it.
    await client.query(`SET lock_timeout = '2s'`);
    const found = await tablesOf(client, source.schema);
    for (const t of found)
      if (t.kind !== 'r')
        throw new TenantCopyError(
          'source-table-unsupported',
          `${source.schema}.${t.name} is partitioned: moves copy ordinary tables only`,
        );
    await ensureMovesSchema(client);
    const pooled = source.placement === 'pool';
    for (const { name } of found) {
      const qualified = `${quoteIdentifier(source.schema)}.${quoteIdentifier(name)}`;
      if (pooled) {
        if (!(await hasTenantColumn(client, source.schema, name)))
          throw new TenantCopyError(
            'source-table-unsupported',
            `pool table ${source.schema}.${name} has no ${TENANT_ID_COLUMN}: its tenant's rows cannot be told apart`,
          );
        // A row filter on tenant_id needs the column in the replica identity for updates and
        // deletes to stream; the pool's primary keys do not carry it.
        const { rows } = await client.query<{ identity: string }>(
          `SELECT relreplident::text AS identity FROM pg_class WHERE oid = $1::regclass`,
          [qualified],
        );
        if (rows[0]?.identity !== 'f') {
          await client.query(
            `INSERT INTO ${MOVES_SCHEMA}.full_identity VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
            [plan.moveId, source.schema, name],
          );
          await client.query(`ALTER TABLE ${qualified} REPLICA IDENTITY FULL`);
        }
      }
      const exists = await client.query(
        `SELECT 1 FROM pg_trigger WHERE tgname = $1 AND tgrelid = $2::regclass`,
        [names.trigger, qualified],
      );
      if (exists.rows.length === 0)
        await idempotent(
          client,
          `CREATE TRIGGER ${names.trigger} BEFORE INSERT OR UPDATE OR DELETE ON ${qualified}
             FOR EACH ${pooled ? 'ROW' : 'STATEMENT'} EXECUTE FUNCTION ${MOVES_SCHEMA}.guard(${tenant})`,
        );
    }
    const published = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
      names.publication,
    ]);
    if (published.rows.length === 0) {
      const filter = pooled ? ` WHERE (${TENANT_ID_COLUMN} = ${tenant})` : '';
      const list = found.map(
        ({ name }) => `${quoteIdentifier(source.schema)}.${quoteIdentifier(name)}${filter}`,
      );
      list.push(`${MOVES_SCHEMA}.markers WHERE (move_id = '${plan.moveId}')`);
      await idempotent(client, `CREATE PUBLICATION ${names.publication} FOR TABLE ${list.join(', ')}`);
    }
    const slot = await client.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [names.slot]);
    if (slot.rows.length === 0)
      await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [names.slot]);
    return found.map((t) => t.name);
  });

  await connect(target.endpoint, async (client) => {
    const subscribed = await client.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [
      names.subscription,
    ]);
    if (subscribed.rows.length > 0) return;
    if (target.schema !== source.schema) await stageSchema(client, plan.moveId, target.schema, source.schema);
    const present = new Set((await tablesOf(client, source.schema)).map((t) => t.name));
    for (const name of tables) {
      if (!present.has(name))
        throw new TenantCopyError(
          'target-table-missing',
          `the target has no table ${name}: migrate it to the source's version first`,
        );
      const qualified = `${quoteIdentifier(source.schema)}.${quoteIdentifier(name)}`;
      const where = (await hasTenantColumn(client, source.schema, name))
        ? ` WHERE ${TENANT_ID_COLUMN} = ${tenant}`
        : '';
      const { rows } = await client.query(`SELECT 1 FROM ${qualified}${where} LIMIT 1`);
      if (rows.length > 0)
        throw new TenantCopyError(
          'target-not-empty',
          `the target's ${name} already holds rows of tenant ${tenantId}`,
        );
    }
    await ensureMovesSchema(client);
    await client.query(
      `CREATE SUBSCRIPTION ${names.subscription} CONNECTION ${client.escapeLiteral(
        conninfo(plan.replicationEndpoint ?? source.endpoint),
      )} PUBLICATION ${names.publication} WITH (create_slot = false, slot_name = ${client.escapeLiteral(names.slot)}, copy_data = true, enabled = true)`,
    );
  });
  return { tables };
}

/** The comment a target schema carries while it is staged under the source's name: the move's own mark. */
const stagingMark = (moveId: string) => `silo-move:${moveId}`;

/** Who holds `staging` on the target: this move, another move (its mark), or something else. */
async function stagingHolder(
  client: Client,
  moveId: string,
  staging: string,
): Promise<'none' | 'this' | 'other-move' | 'other'> {
  const { rows } = await client.query<{ mark: string | null }>(
    `SELECT obj_description(oid, 'pg_namespace') AS mark FROM pg_namespace WHERE nspname = $1`,
    [staging],
  );
  if (rows.length === 0) return 'none';
  const mark = rows[0].mark ?? '';
  if (mark === stagingMark(moveId)) return 'this';
  return mark.startsWith('silo-move:') ? 'other-move' : 'other';
}

async function assertStagingFree(
  client: Client,
  moveId: string,
  own: string,
  staging: string,
): Promise<void> {
  const holder = await stagingHolder(client, moveId, staging);
  if (holder === 'other-move')
    throw new TenantCopyError(
      'target-busy',
      `another move is copying into this database under the schema name ${staging}; this one starts once it has cut over`,
    );
  if (holder === 'other')
    throw new TenantCopyError(
      'target-not-empty',
      `the target already has a schema ${staging} beside ${own}: a move stages the tenant's schema under that name`,
    );
}

/**
 * Gives the target's schema `own` the source's name `staging` for the copy (subscriptions match
 * tables by schema and name), marked with the move's id so that no other move's schema is ever
 * taken for it. Done when it already is (a run after a crash).
 */
async function stageSchema(client: Client, moveId: string, own: string, staging: string): Promise<void> {
  await client.query('BEGIN');
  try {
    // Two moves into one database ask at once: one stages, the other then sees its mark.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('silo-move:stage:' || $1))`, [staging]);
    if ((await stagingHolder(client, moveId, staging)) === 'this') {
      await client.query('COMMIT');
      return;
    }
    await assertStagingFree(client, moveId, own, staging);
    const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [own]);
    if (rows.length === 0)
      throw new TenantCopyError('target-table-missing', `the target has no schema ${own}`);
    await client.query(`ALTER SCHEMA ${quoteIdentifier(own)} RENAME TO ${quoteIdentifier(staging)}`);
    await client.query(
      `COMMENT ON SCHEMA ${quoteIdentifier(staging)} IS ${client.escapeLiteral(stagingMark(moveId))}`,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Gives the staged schema its own name back, if this move staged it; idempotent. */
async function unstageSchema(client: Client, moveId: string, own: string, staging: string): Promise<void> {
  if ((await stagingHolder(client, moveId, staging)) !== 'this') return;
  await client.query('BEGIN');
  try {
    await client.query(`COMMENT ON SCHEMA ${quoteIdentifier(staging)} IS NULL`);
    await client.query(`ALTER SCHEMA ${quoteIdentifier(staging)} RENAME TO ${quoteIdentifier(own)}`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** How far the copy is: tables copied, and the WAL the target has yet to confirm. */
export async function copyProgress(input: TenantCopyPlan): Promise<CopyProgress> {
  const plan = checkedPlan(input);
  const states = await connect(plan.target.endpoint, async (client) => {
    const { rows } = await client.query<{ state: string; relname: string }>(
      `SELECT r.srsubstate::text AS state, c.relname FROM pg_subscription s
         JOIN pg_subscription_rel r ON r.srsubid = s.oid JOIN pg_class c ON c.oid = r.srrelid
        WHERE s.subname = $1`,
      [plan.names.subscription],
    );
    const stats = await client.query<{ errors: number }>(
      `SELECT (sync_error_count + apply_error_count)::int AS errors FROM pg_stat_subscription_stats WHERE subname = $1`,
      [plan.names.subscription],
    );
    return { rows, errors: stats.rows[0]?.errors ?? 0 };
  });
  if (states.rows.length === 0)
    throw new TenantCopyError('copy-missing', `the target has no subscription ${plan.names.subscription}`);
  const lag = await connect(plan.source.endpoint, async (client) => {
    const { rows } = await client.query<{ lag: string | null }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag
         FROM pg_replication_slots WHERE slot_name = $1`,
      [plan.names.slot],
    );
    return rows[0]?.lag ?? null;
  });
  const copied = states.rows.filter((s) => s.state === 'r' || s.state === 's').length;
  return {
    tablesCopied: copied,
    tables: states.rows.length,
    streaming: copied === states.rows.length,
    errors: states.errors,
    lagBytes: lag === null ? null : Number(lag),
  };
}

/** The tenant's rows of each table on one side: count and an order-independent checksum. */
export async function tenantRowDigests(
  side: CopySide,
  tenantId: string,
  tables: readonly string[],
  schema = side.schema,
): Promise<TableDigest[]> {
  if (!isTenantId(tenantId)) throw new Error(`${JSON.stringify(tenantId)} is not a tenant id`);
  return connect(side.endpoint, (client) => digestsWith(client, side, tenantId, tables, schema));
}

async function digestsWith(
  client: Client,
  side: CopySide,
  tenantId: string,
  tables: readonly string[],
  schema: string,
): Promise<TableDigest[]> {
  const out: TableDigest[] = [];
  // Where the role is bound by the tables' forced row-level security, it sees this tenant's rows.
  await client.query(`SELECT set_config($1, $2, false)`, [TENANT_SETTING, tenantId]);
  // A row as text depends on session settings (a timestamptz on TimeZone, dates on DateStyle):
  // pinned, the same rows read the same on two servers whose defaults differ.
  await client.query(
    `SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, YMD', false),
            set_config('IntervalStyle', 'postgres', false), set_config('extra_float_digits', '1', false),
            set_config('bytea_output', 'hex', false)`,
  );
  for (const table of tables) {
    const qualified = `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;
    const where = side.placement === 'pool' ? `WHERE t.${TENANT_ID_COLUMN} = '${tenantId}'` : '';
    // Two sums of 64-bit row hashes (seeds 0 and 1): independent of the rows' order, so nothing
    // is sorted (a third of an md5 of the sorted rows' time, and no collation to agree on).
    const { rows } = await client.query<{ rows: number; checksum: string | null }>(
      `SELECT count(*)::int AS rows,
              sum(hashtextextended(r, 0)::numeric)::text || ':' || sum(hashtextextended(r, 1)::numeric)::text AS checksum
         FROM (SELECT t::text COLLATE "C" AS r FROM ${qualified} t ${where}) q`,
    );
    out.push({ table, rows: rows[0].rows, checksum: rows[0].checksum ?? '' });
  }
  return out;
}

/**
 * The cut-over, on the databases (the control plane's switch comes after it):
 * 1. take the tenant's guard lock on the source, exclusive: it waits for the tenant's open
 *    writing transactions to end (at most `freezeTimeoutMs`), and from then on every write of
 *    the tenant there fails with {@link MOVED_TENANT_SQLSTATE};
 * 2. write a marker and wait for it on the target (`catchUpTimeoutMs`): the target then holds
 *    every transaction committed before it;
 * 3. compare row counts and checksums of every table; any difference fails the cut-over;
 * 4. freeze the tenant on the source for good (a row in `silo_moves.frozen`), release the lock;
 * 5. end the subscription, give the target's schema its own name back, and set the target's
 *    sequences to at least the source's values.
 * A failure before 4 leaves the source as it was (the lock goes with the session): the copy
 * keeps streaming and the cut-over can be tried again. Run again after 4, it finds the tenant
 * frozen and finishes 5.
 */
export async function cutOverCopy(
  input: TenantCopyPlan,
  options: { tables: readonly string[]; freezeTimeoutMs?: number; catchUpTimeoutMs?: number },
): Promise<CutOverResult> {
  const plan = checkedPlan(input);
  const { source, target, tenantId } = plan;
  const freezeTimeoutMs = options.freezeTimeoutMs ?? 5_000;
  const catchUpTimeoutMs = options.catchUpTimeoutMs ?? 30_000;
  const stagingSchema = source.schema;

  let frozenForMs = 0;
  let digests: TableDigest[] = [];
  const alreadyFrozen = await connect(source.endpoint, async (client) => {
    const { rows } = await client.query(
      `SELECT 1 FROM ${MOVES_SCHEMA}.frozen WHERE tenant_id = $1 AND move_id = $2`,
      [tenantId, plan.moveId],
    );
    return rows.length > 0;
  });

  if (!alreadyFrozen) {
    await connect(source.endpoint, async (client) => {
      const started = performance.now();
      await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(freezeTimeoutMs))}`);
      try {
        await client.query(`SELECT pg_advisory_lock(${guardKeySql('$1::text')})`, [tenantId]);
      } catch (error) {
        if ((error as { code?: string }).code === '55P03')
          throw new TenantCopyError(
            'freeze-timeout',
            `the tenant's open transactions on the source did not end within ${freezeTimeoutMs} ms`,
          );
        throw error;
      }
      try {
        const marker = await client.query<{ n: number }>(
          `INSERT INTO ${MOVES_SCHEMA}.markers (move_id, n)
             SELECT $1, coalesce(max(n), 0) + 1 FROM ${MOVES_SCHEMA}.markers WHERE move_id = $1 RETURNING n`,
          [plan.moveId],
        );
        await waitForMarker(plan, marker.rows[0].n, catchUpTimeoutMs);
        const [here, there] = await Promise.all([
          digestsWith(client, source, tenantId, options.tables, source.schema),
          tenantRowDigests(target, tenantId, options.tables, stagingSchema),
        ]);
        for (const [i, mine] of here.entries()) {
          const theirs = there[i];
          if (mine.rows !== theirs.rows || mine.checksum !== theirs.checksum)
            throw new TenantCopyError(
              'rows-differ',
              `table ${mine.table}: the source holds ${mine.rows} rows of the tenant (checksum ${mine.checksum}), the target ${theirs.rows} (${theirs.checksum})`,
            );
        }
        digests = here;
        await client.query(
          `INSERT INTO ${MOVES_SCHEMA}.frozen (tenant_id, move_id) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING`,
          [tenantId, plan.moveId],
        );
        frozenForMs = performance.now() - started;
      } finally {
        await client
          .query(`SELECT pg_advisory_unlock(${guardKeySql('$1::text')})`, [tenantId])
          .catch(() => undefined);
      }
    });
  } else {
    digests = await tenantRowDigests(source, tenantId, options.tables);
  }

  await endSubscription(plan);
  const sequencesSet = await connect(source.endpoint, async (sourceClient) => {
    const { rows: sequences } = await sourceClient.query<{ name: string; last: string | null }>(
      `SELECT sequencename AS name, last_value::text AS last FROM pg_sequences WHERE schemaname = $1`,
      [source.schema],
    );
    return connect(target.endpoint, async (client) => {
      if (target.schema !== stagingSchema)
        await unstageSchema(client, plan.moveId, target.schema, stagingSchema);
      let set = 0;
      for (const seq of sequences) {
        if (seq.last === null) continue;
        const qualified = `${quoteIdentifier(target.schema)}.${quoteIdentifier(seq.name)}`;
        const { rows } = await client.query(
          `SELECT 1 FROM pg_sequences WHERE schemaname = $1 AND sequencename = $2`,
          [target.schema, seq.name],
        );
        if (rows.length === 0) continue;
        await client.query(
          `SELECT setval($1::regclass, greatest($2::bigint, coalesce((SELECT last_value FROM pg_sequences WHERE schemaname = $3 AND sequencename = $4), 0)))`,
          [qualified, seq.last, target.schema, seq.name],
        );
        set++;
      }
      return set;
    });
  });
  return { tables: digests, frozenForMs, sequencesSet };
}

async function waitForMarker(
  plan: ReturnType<typeof checkedPlan>,
  n: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await connect(plan.target.endpoint, async (client) => {
    for (;;) {
      const { rows } = await client.query(
        `SELECT 1 FROM ${MOVES_SCHEMA}.markers WHERE move_id = $1 AND n >= $2`,
        [plan.moveId, n],
      );
      if (rows.length > 0) return;
      if (Date.now() > deadline)
        throw new TenantCopyError(
          'catch-up-timeout',
          `the target did not catch up with the source within ${timeoutMs} ms (marker ${n} not applied)`,
        );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}

/** Drops the subscription on the target (keeping no slot) and the slot and publication on the source. Idempotent. */
async function endSubscription(plan: ReturnType<typeof checkedPlan>): Promise<void> {
  const { names } = plan;
  await connect(plan.target.endpoint, async (client) => {
    const { rows } = await client.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [
      names.subscription,
    ]);
    if (rows.length === 0) return;
    await client.query(`ALTER SUBSCRIPTION ${names.subscription} DISABLE`);
    await client.query(`ALTER SUBSCRIPTION ${names.subscription} SET (slot_name = NONE)`);
    await client.query(`DROP SUBSCRIPTION IF EXISTS ${names.subscription}`);
    await client.query(`DELETE FROM ${MOVES_SCHEMA}.markers WHERE move_id = $1`, [plan.moveId]);
  });
  await connect(plan.source.endpoint, async (client) => {
    await client.query(`DROP PUBLICATION IF EXISTS ${names.publication}`);
    // The walsender of a just-disabled subscription takes a moment to let go of the slot.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await client.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [names.slot],
      );
      if (rows.length === 0) break;
      if (!rows[0].active) {
        await client
          .query('SELECT pg_drop_replication_slot($1)', [names.slot])
          .catch((error: { code?: string }) => {
            if (error.code !== '42704' && error.code !== '55006') throw error;
          });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`replication slot ${names.slot} is still in use`);
      await client.query(
        'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active',
        [names.slot],
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await client.query(`DELETE FROM ${MOVES_SCHEMA}.markers WHERE move_id = $1`, [plan.moveId]);
    await restoreReplicaIdentity(client, plan.moveId);
  });
}

/** Gives back the replica identity of tables this move made FULL, unless another move still needs it. */
async function restoreReplicaIdentity(client: Client, moveId: string): Promise<void> {
  const { rows } = await client.query<{ table_schema: string; table_name: string }>(
    `DELETE FROM ${MOVES_SCHEMA}.full_identity WHERE move_id = $1 RETURNING table_schema, table_name`,
    [moveId],
  );
  for (const t of rows) {
    const others = await client.query(
      `SELECT 1 FROM ${MOVES_SCHEMA}.full_identity WHERE table_schema = $1 AND table_name = $2`,
      [t.table_schema, t.table_name],
    );
    if (others.rows.length === 0)
      await client.query(
        `ALTER TABLE ${quoteIdentifier(t.table_schema)}.${quoteIdentifier(t.table_name)} REPLICA IDENTITY DEFAULT`,
      );
  }
}

/** Drops the guard triggers of a move on the source's tables. */
async function dropGuards(client: Client, schema: string, trigger: string): Promise<void> {
  const { rows } = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE tg.tgname = $1 AND n.nspname = $2`,
    [trigger, schema],
  );
  for (const { relname } of rows)
    await client.query(
      `DROP TRIGGER IF EXISTS ${trigger} ON ${quoteIdentifier(schema)}.${quoteIdentifier(relname)}`,
    );
}

/**
 * Undoes a copy that was not cut over: the subscription, slot and publication go, the target's
 * staged schema gets its own name back, the guard triggers and any freeze of this move are
 * lifted on the source, and its tables get their replica identity back. The target's tables are
 * left to whoever removes the target. Idempotent.
 */
export async function abortTenantCopy(input: TenantCopyPlan): Promise<void> {
  const plan = checkedPlan(input);
  await endSubscription(plan);
  if (plan.target.schema !== plan.source.schema)
    await connect(plan.target.endpoint, (client) =>
      unstageSchema(client, plan.moveId, plan.target.schema, plan.source.schema),
    );
  await connect(plan.source.endpoint, async (client) => {
    const { rows } = await client.query(
      `SELECT to_regclass('${MOVES_SCHEMA}.frozen') IS NOT NULL AS present`,
    );
    if (!(rows[0] as { present: boolean }).present) return;
    await dropGuards(client, plan.source.schema, plan.names.trigger);
    await client.query(`DELETE FROM ${MOVES_SCHEMA}.frozen WHERE move_id = $1`, [plan.moveId]);
  });
}

/** Whether this move froze its tenant on the source for good (its cut-over passed the point of no return). */
export async function isTenantFrozen(input: TenantCopyPlan): Promise<boolean> {
  const plan = checkedPlan(input);
  return connect(plan.source.endpoint, async (client) => {
    const { rows } = await client
      .query<{ frozen: boolean }>(
        `SELECT to_regclass('${MOVES_SCHEMA}.frozen') IS NOT NULL
          AND EXISTS (SELECT 1 FROM ${MOVES_SCHEMA}.frozen WHERE tenant_id = $1 AND move_id = $2) AS frozen`,
        [plan.tenantId, plan.moveId],
      )
      .catch(() => ({ rows: [{ frozen: false }] }));
    return rows[0]?.frozen ?? false;
  });
}

/**
 * Once the source's data is removed (after the retention): the guard triggers and the freeze of
 * this move go too. Idempotent; nothing of the source is removed here.
 */
export async function releaseMovedSource(input: TenantCopyPlan): Promise<void> {
  const plan = checkedPlan(input);
  await connect(plan.source.endpoint, async (client) => {
    const { rows } = await client.query(
      `SELECT to_regclass('${MOVES_SCHEMA}.frozen') IS NOT NULL AS present`,
    );
    if (!(rows[0] as { present: boolean }).present) return;
    await dropGuards(client, plan.source.schema, plan.names.trigger);
    await client.query(`DELETE FROM ${MOVES_SCHEMA}.frozen WHERE move_id = $1`, [plan.moveId]);
  });
}
