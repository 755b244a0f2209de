import type { SharedPlacement } from '@silo/core';
import type { EntityManager } from 'typeorm';

/**
 * Takes the transaction-scoped lock on the hosts of one placement and tier. Whatever decides
 * how many tenants a host holds (placing a tenant, starting to delete an empty host) takes it
 * first, so two such decisions never see the same count.
 */
export async function lockHostPool(
  em: EntityManager,
  placement: SharedPlacement,
  tier: string,
): Promise<void> {
  await em.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`silo:hosts:${placement}:${tier}`]);
}
