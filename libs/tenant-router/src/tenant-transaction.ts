import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/**
 * The first statement of every transaction of a pooled tenant: the tenant that row-level security
 * checks, local to the transaction (`is_local` true), so it ends with the commit or rollback and
 * the connection goes back to the pool with no tenant set.
 */
export const SET_POOLED_TENANT_SQL = "SELECT set_config('app.tenant_id', $1, true)";

/** The first statement of a read-only transaction (a restore copy's): nothing in it may write (25006). */
export const READ_ONLY_TRANSACTION_SQL = 'SET TRANSACTION READ ONLY';

/**
 * Runs `work` in one transaction on a connection of `dataSource`'s pool: START TRANSACTION, for a
 * pooled tenant (`pooledTenantId`) {@link SET_POOLED_TENANT_SQL} first, with `readOnly`
 * {@link READ_ONLY_TRANSACTION_SQL} first, then `work`, then COMMIT;
 * ROLLBACK when `work` or the commit fails, and the error rethrown. A connection whose rollback
 * failed is destroyed, not given back to the pool: nothing it may still hold (an open
 * transaction, a tenant set in it) can reach the next user.
 */
export async function inTransaction<T>(
  dataSource: DataSource,
  pooledTenantId: string | undefined,
  work: (manager: EntityManager) => Promise<T>,
  readOnly = false,
): Promise<T> {
  const runner = dataSource.createQueryRunner();
  let broken: unknown;
  try {
    await runner.connect();
    await runner.startTransaction();
    try {
      if (readOnly) await runner.query(READ_ONLY_TRANSACTION_SQL);
      if (pooledTenantId !== undefined) await runner.query(SET_POOLED_TENANT_SQL, [pooledTenantId]);
      const result = await work(runner.manager);
      await runner.commitTransaction();
      return result;
    } catch (error) {
      broken = await rollBack(runner);
      throw error;
    }
  } finally {
    await release(runner, broken);
  }
}

/** Rolls back; answers the rollback's own failure (undefined when it went through). */
async function rollBack(runner: QueryRunner): Promise<unknown> {
  try {
    // After a failed COMMIT the server has ended the transaction already; ROLLBACK then only warns.
    await runner.rollbackTransaction();
    return undefined;
  } catch (error) {
    return error ?? new Error('the rollback failed');
  }
}

/** TypeORM's PostgresQueryRunner can give its connection back as broken, which pg-pool then ends. */
interface PostgresRunnerView {
  releasePostgresConnection?(error?: unknown): Promise<void>;
}

async function release(runner: QueryRunner, broken: unknown): Promise<void> {
  const postgres = runner as unknown as PostgresRunnerView;
  if (broken !== undefined && typeof postgres.releasePostgresConnection === 'function')
    await postgres.releasePostgresConnection(broken);
  else await runner.release();
}
