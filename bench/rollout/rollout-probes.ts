import { performance } from 'node:perf_hooks';
import { TenantSecrets } from '@silo/aws';
import { RolloutTenantMigration, TenantDatabaseAdmin } from '@silo/fleet';
import IORedis from 'ioredis';
import { Client } from 'pg';

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
type Methods = Record<string, AnyFunction>;

/** Calls this process made through the client libraries while a contender ran. */
export interface ClientCallCounts {
  /** `pg` Client#connect: each one a new PostgreSQL backend. */
  pgConnects: number;
  /** `pg` Client#query: TypeORM's statements, BEGIN and COMMIT included. */
  pgQueries: number;
  /** ioredis sendCommand: BullMQ's commands and scripts. */
  redisCommands: number;
  /**
   * pg calls by statement (whitespace folded, cut at {@link STATEMENT_KEY_LENGTH} characters, with
   * FOR UPDATE / SKIP LOCKED kept), and `connect`: how many, and their time, call → answer, ms.
   */
  pgProfile: Map<string, { calls: number; ms: number }>;
}

const STATEMENT_KEY_LENGTH = 64;

/** The bench's own pg clients (status poll, sampler): not counted. */
const uncounted = new WeakSet<object>();

export function leaveUncounted(client: Client): Client {
  uncounted.add(client);
  return client;
}

/**
 * Counts and times pg connections and queries, and counts Redis commands, by wrapping the client
 * prototypes every library in the process goes through (TypeORM's pool, the tenant migrator,
 * BullMQ); clients given to {@link leaveUncounted} are left out.
 */
export class ClientCalls {
  private readonly counts = { pgConnects: 0, pgQueries: 0, redisCommands: 0 };
  private readonly profile = new Map<string, { calls: number; ms: number }>();
  private readonly restore: (() => void)[] = [];

  install(): void {
    const { counts } = this;
    const record = (key: string) => {
      const started = performance.now();
      return () => {
        const entry = this.profile.get(key) ?? { calls: 0, ms: 0 };
        entry.calls++;
        entry.ms += performance.now() - started;
        this.profile.set(key, entry);
      };
    };
    this.wrap(
      Client.prototype as unknown as Methods,
      'connect',
      (original) =>
        function (this: unknown, ...args: unknown[]) {
          if (uncounted.has(this as object)) return original.apply(this, args);
          counts.pgConnects++;
          return timed(original, this, args, record('connect'));
        },
    );
    this.wrap(
      Client.prototype as unknown as Methods,
      'query',
      (original) =>
        function (this: unknown, ...args: unknown[]) {
          if (uncounted.has(this as object)) return original.apply(this, args);
          counts.pgQueries++;
          return timed(original, this, args, record(statementKey(args[0])));
        },
    );
    this.wrap(
      IORedis.prototype as unknown as Methods,
      'sendCommand',
      (original) =>
        function (this: unknown, ...args: unknown[]) {
          counts.redisCommands++;
          return original.apply(this, args);
        },
    );
  }

  uninstall(): void {
    for (const undo of this.restore.splice(0).reverse()) undo();
  }

  snapshot(): ClientCallCounts {
    const profile = new Map([...this.profile].map(([key, entry]) => [key, { ...entry }]));
    return { ...this.counts, pgProfile: profile };
  }

  private wrap(target: Methods, method: string, make: (original: AnyFunction) => AnyFunction): void {
    this.restore.push(wrapMethod(target, method, make));
  }
}

/** Calls `original`, and `done` when it answers: through its callback (last argument) or its promise. */
function timed(original: AnyFunction, self: unknown, args: unknown[], done: () => void): unknown {
  const last = args.length - 1;
  const callback = args[last];
  if (typeof callback === 'function') {
    const withTiming = [...args];
    withTiming[last] = function (this: unknown, ...results: unknown[]) {
      done();
      return (callback as AnyFunction).apply(this, results);
    };
    return original.apply(self, withTiming);
  }
  const result = original.apply(self, args);
  if (result && typeof (result as Promise<unknown>).then === 'function') {
    (result as Promise<unknown>).then(done, done);
  }
  return result;
}

function statementKey(query: unknown): string {
  const text =
    typeof query === 'string'
      ? query
      : typeof (query as { text?: unknown })?.text === 'string'
        ? (query as { text: string }).text
        : 'query object';
  const folded = text.replace(/\s+/g, ' ').trim();
  const locks = ['FOR UPDATE', 'SKIP LOCKED'].filter((clause) => folded.toUpperCase().includes(clause));
  const head = folded.length > STATEMENT_KEY_LENGTH ? `${folded.slice(0, STATEMENT_KEY_LENGTH)}…` : folded;
  return locks.length && !head.toUpperCase().includes(locks[0]) ? `${head} ${locks.join(' ')}` : head;
}

/** Per call, in ms: where a migrate-tenant pass spends its time. */
export interface PassTimings {
  /** RolloutTenantMigration#run: the job's whole pass, under the tenant lock. */
  pass: number[];
  /** TenantSecrets#read: the master secret, from Secrets Manager (moto). */
  secretRead: number[];
  /** TenantDatabaseAdmin#runMigrations: the tenant migrator, connection to disconnection. */
  migrator: number[];
  /** RolloutTenantMigration#record: outcome, version, event and the next dispatch, one transaction. */
  record: number[];
}

/**
 * Times the steps of the worker's migrate-tenant passes by wrapping the methods on their classes'
 * prototypes (the worker builds its instances from the same classes). `record` is private: a
 * bench that no longer finds it says so rather than report nothing.
 */
export class PassProbes {
  private readonly timings: PassTimings = { pass: [], secretRead: [], migrator: [], record: [] };
  private readonly restore: (() => void)[] = [];
  private running = 0;

  /** Passes started and not yet returned. */
  get inFlight(): number {
    return this.running;
  }

  install(): void {
    const migration = RolloutTenantMigration.prototype as unknown as Methods;
    this.time(migration, 'run', this.timings.pass, (delta) => (this.running += delta));
    this.time(migration, 'record', this.timings.record);
    this.time(TenantSecrets.prototype as unknown as Methods, 'read', this.timings.secretRead);
    this.time(TenantDatabaseAdmin.prototype as unknown as Methods, 'runMigrations', this.timings.migrator);
  }

  uninstall(): void {
    for (const undo of this.restore.splice(0).reverse()) undo();
  }

  snapshot(): PassTimings {
    const { pass, secretRead, migrator, record } = this.timings;
    return { pass: [...pass], secretRead: [...secretRead], migrator: [...migrator], record: [...record] };
  }

  private time(
    target: Methods,
    method: string,
    sink: number[],
    count: (delta: number) => void = () => undefined,
  ): void {
    this.restore.push(
      wrapMethod(
        target,
        method,
        (original) =>
          function (this: unknown, ...args: unknown[]) {
            const started = performance.now();
            count(1);
            const done = () => {
              sink.push(performance.now() - started);
              count(-1);
            };
            return (original.apply(this, args) as Promise<unknown>).finally(done);
          },
      ),
    );
  }
}

function wrapMethod(
  target: Methods,
  method: string,
  make: (original: AnyFunction) => AnyFunction,
): () => void {
  const original = target[method];
  if (typeof original !== 'function') {
    const owner = (target as { constructor?: { name?: string } }).constructor?.name ?? 'its class';
    throw new Error(`the bench is out of date: ${owner} has no ${method}() to wrap any more`);
  }
  target[method] = make(original);
  return () => {
    target[method] = original;
  };
}
