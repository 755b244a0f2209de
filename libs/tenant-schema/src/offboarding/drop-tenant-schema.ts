import { quoteIdentifier } from '@silo/core';
import { appLoginRoles } from '../app-logins';
import { pgClientConfig, withPgClient, type PgEndpoint } from '../pg-endpoint';
import { checkedTarget, SCHEMA_LEDGERS_SCHEMA } from '../placements/migration-target';
import { readRoleDefaults } from '../placements/role-defaults';
import { assertUnprivileged, findRole } from '../role-attributes';

/** A schema tenant's objects on its host. */
export interface DropTenantSchemaOptions {
  /** The tenant's own schema. */
  schema: string;
  /** The tenant's app role; its two logins ({@link appLoginRoles}) go with it. */
  role: string;
  /** lock_timeout of the transaction: a session still using the schema fails it instead of queueing. Default 5000. */
  lockTimeoutMs?: number;
}

/** What {@link dropTenantSchema} found and dropped (nothing on a re-run). */
export interface DroppedTenantSchema {
  schemaDropped: boolean;
  ledgerDropped: boolean;
  rolesDropped: string[];
}

const APPLICATION_NAME = 'silo-tenant-offboarding';
const ROLE_LOCK_KEY = 'silo:tenant-app-role';

/**
 * As the host's owner, in one transaction under lock_timeout: drops a schema tenant's schema
 * with everything in it (CASCADE), its migration ledger in `silo_ledgers`, and its app role and
 * logins (what they own reassigned to the owner and dropped, their grants revoked, as
 * dropAppRole does). Other schemas and roles are not touched; a role whose search_path names
 * another schema is refused, so a wrong pair cannot drop another tenant's role. End the roles'
 * sessions first (retireAppLogin, terminateSessions): one holding a lock on the schema fails the
 * drop with 55P03 after the lock timeout, and the drop can be run again. Idempotent.
 */
export async function dropTenantSchema(
  owner: PgEndpoint,
  options: DropTenantSchemaOptions,
): Promise<DroppedTenantSchema> {
  const { quotedSchema } = checkedTarget({ placement: 'schema', schema: options.schema });
  const ownerRole = quoteIdentifier(owner.user, 'owner role');
  const roles = [...appLoginRoles(options.role), options.role];
  for (const role of roles) {
    quoteIdentifier(role, 'app role');
    if (role === owner.user) throw new Error('the app roles must not be the owner role');
  }
  const lockTimeoutMs = options.lockTimeoutMs ?? 5000;

  return withPgClient(pgClientConfig(owner, APPLICATION_NAME), async (client) => {
    await client.query('BEGIN');
    try {
      await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [ROLE_LOCK_KEY]);
      const found = [];
      for (const role of roles) {
        const existing = await findRole(client, role);
        if (existing === undefined) continue;
        assertUnprivileged(existing, role, 'app role');
        const defaults = await readRoleDefaults(client, role);
        if (defaults && defaults.schema !== options.schema)
          throw new Error(
            `${role} serves schema ${defaults.schema}, not ${options.schema}: nothing was dropped`,
          );
        found.push(role);
      }
      const schema = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [options.schema]);
      await client.query(`DROP SCHEMA IF EXISTS ${quotedSchema} CASCADE`);
      const ledger = await client.query<{ dropped: boolean }>(
        `SELECT to_regclass($1) IS NOT NULL AS dropped`,
        [`${SCHEMA_LEDGERS_SCHEMA}.${quotedSchema}`],
      );
      if (ledger.rows[0]?.dropped)
        await client.query(`DROP TABLE IF EXISTS ${SCHEMA_LEDGERS_SCHEMA}.${quotedSchema}`);
      for (const role of found) {
        const quoted = quoteIdentifier(role, 'app role');
        // REASSIGN OWNED and DROP OWNED take the role's privileges: CREATEROLE alone (the RDS
        // master user) does not give them, membership does.
        await client.query(`GRANT ${quoted} TO ${ownerRole}`);
        await client.query(`REASSIGN OWNED BY ${quoted} TO ${ownerRole}`);
        await client.query(`DROP OWNED BY ${quoted}`);
        await client.query(`DROP ROLE ${quoted}`);
      }
      await client.query('COMMIT');
      return {
        schemaDropped: Boolean(schema.rowCount),
        ledgerDropped: Boolean(ledger.rows[0]?.dropped),
        rolesDropped: found,
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}
