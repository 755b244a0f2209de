import { MOVED_TENANT_SQLSTATE, TENANT_SETTING, type PgEndpoint } from '@silo/tenant-schema';
import { Pool, type PoolClient } from 'pg';

export type RequestKind = 'read' | 'insert' | 'update';
/** Ten requests in turn: 50 % reads of recent notes, 30 % inserts, 20 % updates. */
const MIX: readonly RequestKind[] = [
  'read',
  'insert',
  'read',
  'update',
  'read',
  'insert',
  'read',
  'update',
  'read',
  'insert',
];
/** Connections of each tenant's application pool. */
const POOL_SIZE = 4;

/** One request as the application saw it: scheduled start and answer on `performance.now()`'s clock. */
export interface RequestRecord {
  kind: RequestKind;
  startedAt: number;
  endedAt: number;
  /** ok; refused: a write answered with the moved tenant's SQLSTATE; failed: anything else. */
  outcome: 'ok' | 'refused' | 'failed';
  error?: string;
}

/**
 * A tenant's application at a fixed request rate (open loop: a request is sent when it is due,
 * whether the previous ones were answered or not), through a plain pg pool as the application's
 * login, one transaction per request with the tenant set first (`set_config(app.tenant_id, …,
 * true)`), as Silo's router leases a pooled tenant's connection. It keeps what it was told was
 * committed: every note id with its last acknowledged text.
 */
export class TenantLoad {
  /** The tenant's notes as the application knows them: id → last acknowledged text. */
  readonly notes = new Map<string, string>();
  readonly records: RequestRecord[] = [];
  private ids: string[] = [];
  /** Ids with a write in flight: two updates of one row never race, so the last acknowledged text is the row's. */
  private readonly busy = new Set<string>();
  private pool?: Pool;
  private readonly inFlight = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private seq = 0;

  constructor(
    readonly name: string,
    readonly tenantId: string,
    private readonly rate: number,
  ) {}

  /** Takes the tenant's rows in `database` as the truth to verify against (call while no request runs). */
  track(rows: ReadonlyArray<{ id: string; text: string }>): void {
    this.notes.clear();
    for (const row of rows) this.notes.set(row.id, row.text);
    this.ids = [...this.notes.keys()];
  }

  /** Sends requests to `endpoint` from now on. */
  start(endpoint: PgEndpoint): void {
    if (this.timer) throw new Error(`${this.name}: already running`);
    this.pool = this.newPool(endpoint);
    const startedAt = performance.now();
    let sent = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) * this.rate) / 1000);
      for (; sent < due; sent++) this.send();
    }, 5);
  }

  /**
   * New requests go to `endpoint`, as a router does once the tenant's route switched; requests
   * already on the old pool finish there.
   */
  switchTo(endpoint: PgEndpoint): void {
    const old = this.pool;
    this.pool = this.newPool(endpoint);
    if (old) void this.drained().then(() => old.end().catch(() => undefined));
  }

  /** Stops sending, waits for every answer and closes the pool. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.drained();
    await this.pool?.end().catch(() => undefined);
    this.pool = undefined;
  }

  private async drained(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  private newPool(endpoint: PgEndpoint): Pool {
    const pool = new Pool({
      ...endpoint,
      max: POOL_SIZE,
      connectionTimeoutMillis: 10_000,
      application_name: `bench-${this.name}`,
    });
    pool.on('error', () => undefined);
    return pool;
  }

  private send(): void {
    const pool = this.pool;
    if (!pool) return;
    const n = this.seq++;
    const request = this.request(pool, MIX[n % MIX.length], n).finally(() => this.inFlight.delete(request));
    this.inFlight.add(request);
  }

  private async request(pool: Pool, kind: RequestKind, n: number): Promise<void> {
    const startedAt = performance.now();
    let id: string | undefined;
    if (kind === 'update') {
      id = this.freeId();
      if (id === undefined) kind = 'insert';
      else this.busy.add(id);
    }
    const text = `${this.name} ${kind} ${n}`;
    let client: PoolClient | undefined;
    let broken = false;
    try {
      client = await pool.connect();
      await client.query(kind === 'read' ? 'BEGIN READ ONLY' : 'BEGIN');
      await client.query('SELECT set_config($1, $2, true)', [TENANT_SETTING, this.tenantId]);
      let acknowledge: (() => void) | undefined;
      if (kind === 'read') {
        await client.query('SELECT id, text FROM app.notes ORDER BY created_at DESC LIMIT 10');
      } else if (kind === 'insert') {
        const { rows } = await client.query<{ id: string }>(
          'INSERT INTO app.notes (text) VALUES ($1) RETURNING id',
          [text],
        );
        acknowledge = () => {
          this.notes.set(rows[0].id, text);
          this.ids.push(rows[0].id);
        };
      } else {
        const { rowCount } = await client.query('UPDATE app.notes SET text = $1 WHERE id = $2', [text, id]);
        if (rowCount !== 1) throw new Error(`update of note ${id} matched ${rowCount} rows`);
        acknowledge = () => this.notes.set(id!, text);
      }
      await client.query('COMMIT');
      acknowledge?.();
      this.records.push({ kind, startedAt, endedAt: performance.now(), outcome: 'ok' });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (client) await client.query('ROLLBACK').catch(() => (broken = true));
      this.records.push({
        kind,
        startedAt,
        endedAt: performance.now(),
        outcome: code === MOVED_TENANT_SQLSTATE && kind !== 'read' ? 'refused' : 'failed',
        error: `${code ?? 'no SQLSTATE'}: ${error instanceof Error ? error.message : String(error)}`,
      });
    } finally {
      client?.release(broken);
      if (id !== undefined) this.busy.delete(id);
    }
  }

  private freeId(): string | undefined {
    for (let attempt = 0; attempt < 5 && this.ids.length; attempt++) {
      const id = this.ids[Math.floor(Math.random() * this.ids.length)];
      if (!this.busy.has(id)) return id;
    }
    return undefined;
  }
}

/** What the target (or the source) holds of the tenant against what the application was told. */
export interface Verification {
  expected: number;
  found: number;
  /** Acknowledged rows absent, or present with another text than the last acknowledged one. */
  missing: number;
  stale: number;
  /** Rows the application was never told of. */
  unexpected: number;
  /** Ids present more than once. */
  duplicates: number;
}

export function verify(load: TenantLoad, rows: ReadonlyArray<{ id: string; text: string }>): Verification {
  const found = new Map<string, string>();
  let duplicates = 0;
  for (const row of rows) {
    if (found.has(row.id)) duplicates++;
    found.set(row.id, row.text);
  }
  let missing = 0;
  let stale = 0;
  for (const [id, text] of load.notes) {
    const there = found.get(id);
    if (there === undefined) missing++;
    else if (there !== text) stale++;
  }
  let unexpected = 0;
  for (const id of found.keys()) if (!load.notes.has(id)) unexpected++;
  return { expected: load.notes.size, found: rows.length, missing, stale, unexpected, duplicates };
}

export const lostWrites = (v: Verification): number => v.missing + v.stale + v.unexpected + v.duplicates;
