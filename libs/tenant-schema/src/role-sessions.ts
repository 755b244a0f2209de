import { pgClientConfig, withPgClient, type PgEndpoint } from './pg-endpoint';

const APPLICATION_NAME = 'silo-credential-rotation';
/** How long one termination waits for the backend to end (PostgreSQL 14+). */
const TERMINATE_WAIT_MS = 5000;

/** What {@link terminateSessions} did: sessions ended, and those still there after the wait. */
export interface TerminatedSessions {
  terminated: number;
  remaining: number;
}

/**
 * As the endpoint's user (the owner): terminates the sessions of `user`, on every database of
 * the server, other than this one, and when `startedBefore` is given only those that began before
 * it (by the server's `backend_start`, which PostgreSQL shows only for the caller's own sessions
 * unless it has pg_read_all_stats: a session whose start it cannot see is left alone). Each termination waits for its backend to end, so a
 * session counted here fails its next query. Idempotent: nothing left to end is 0 and 0.
 *
 * The endpoint's user needs the privileges of `user` or of `pg_signal_backend`: on RDS the master
 * user has them through `rds_superuser`; the local backend grants `pg_signal_backend` to the
 * owner it creates. Without them PostgreSQL refuses (42501).
 */
export async function terminateSessions(
  endpoint: PgEndpoint,
  spec: { user: string; startedBefore?: Date },
): Promise<TerminatedSessions> {
  const startedBefore = spec.startedBefore?.toISOString() ?? null;
  return withPgClient(pgClientConfig(endpoint, APPLICATION_NAME), async (client) => {
    const sessionsOf = `FROM pg_stat_activity
      WHERE usename = $1 AND pid <> pg_backend_pid() AND ($2::timestamptz IS NULL OR backend_start < $2::timestamptz)`;
    const ended = await client.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, ${TERMINATE_WAIT_MS}))::int AS n ${sessionsOf}`,
      [spec.user, startedBefore],
    );
    const left = await client.query<{ n: number }>(`SELECT count(*)::int AS n ${sessionsOf}`, [
      spec.user,
      startedBefore,
    ]);
    return { terminated: ended.rows[0]?.n ?? 0, remaining: left.rows[0]?.n ?? 0 };
  });
}
