import { Injectable } from '@nestjs/common';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import type { Readable } from 'node:stream';
import {
  bootstrapAppRole,
  checkLogin,
  dropAppRole,
  retireAppLogin,
  setAppLogin,
  migrateTenantSchema,
  appLoginRoles,
  deleteTenantRows,
  dropTenantSchema,
  dumpTenantSchema,
  exportTenantRows,
  importTenantRows,
  importTenantSchema,
  tenantImported,
  TenantImportError,
  terminateSessions,
  type TenantImportResult,
  type DeletedTenantRows,
  type DroppedTenantSchema,
  TenantMigrationError,
  type AppRolesResult,
  type RoleDefaults,
  type TerminatedSessions,
  type MigrateTenantOptions,
  type PgEndpoint,
  type TenantMigrateResult,
  type TenantMigrationSet,
} from '@silo/tenant-schema';
import type { TenantDatabaseEndpoint } from './backends/tenant-database-host';
import { classifyPgError } from './tenant-database-errors';

export interface OwnerCredentials {
  username: string;
  password: string;
}

/** What the sagas do inside a tenant database, as its owner. */
@Injectable()
export class TenantDatabaseAdmin {
  /**
   * `app.login`: the login the app secret names (absent: the app role itself logs in).
   * `app.schema`: the one schema the role reaches (default `app`); `app.tenantId`: the tenant its
   * logins carry as `app.tenant_id` (instance and schema placements).
   */
  async bootstrapAppRole(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    app: {
      role: string;
      login?: string;
      password: string;
      schema?: string;
      tenantId?: string;
      connectionLimit?: number;
    },
  ): Promise<AppRolesResult> {
    try {
      return await bootstrapAppRole(pgEndpoint(endpoint, owner), app);
    } catch (error) {
      throw classifyPgError(error, 'creating the app role');
    }
  }

  /**
   * Brings the tenant schema to `options.target` (default the newest). A refusal or a failed
   * migration is a {@link TenantMigrationError} (with the SQLSTATE); anything else, such as the
   * database not answering, a classified ProvisioningError.
   */
  async runMigrations(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    set: TenantMigrationSet,
    options: MigrateTenantOptions,
  ): Promise<TenantMigrateResult> {
    try {
      return await migrateTenantSchema(pgEndpoint(endpoint, owner), set, options);
    } catch (error) {
      if (error instanceof TenantMigrationError) throw error;
      throw classifyPgError(error, 'running the tenant migrations');
    }
  }

  async setAppLogin(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { group: string; login: string; password: string; defaults?: RoleDefaults },
  ): Promise<AppRolesResult> {
    try {
      return await setAppLogin(pgEndpoint(endpoint, owner), spec);
    } catch (error) {
      throw classifyPgError(error, `setting the password of ${spec.login}`);
    }
  }

  async retireAppLogin(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { group: string; login: string },
  ): Promise<void> {
    try {
      await retireAppLogin(pgEndpoint(endpoint, owner), spec);
    } catch (error) {
      throw classifyPgError(error, `retiring ${spec.login}`);
    }
  }

  /** Ends `spec.user`'s sessions (those begun before `startedBefore`) other than this one. */
  async terminateSessions(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { user: string; startedBefore?: Date },
  ): Promise<TerminatedSessions> {
    try {
      return await terminateSessions(pgEndpoint(endpoint, owner), spec);
    } catch (error) {
      throw classifyPgError(error, `terminating the sessions of ${spec.user}`);
    }
  }

  /** Logs in as `login` (and checks it holds `group`'s rights); a refusal is a classified error. */
  async checkLogin(endpoint: TenantDatabaseEndpoint, login: LoginCredentials, group?: string): Promise<void> {
    try {
      await checkLogin(pgEndpoint(endpoint, login), group);
    } catch (error) {
      throw classifyPgError(error, `logging in as ${login.username}`);
    }
  }

  async dropAppRole(endpoint: TenantDatabaseEndpoint, owner: OwnerCredentials, role: string): Promise<void> {
    try {
      await dropAppRole(pgEndpoint(endpoint, owner), role);
    } catch (error) {
      throw classifyPgError(error, 'dropping the app role');
    }
  }

  /**
   * Removes a schema tenant from its host: its logins' sessions ended, then its schema, ledger,
   * app role and logins dropped in one transaction (dropTenantSchema). Idempotent.
   */
  async dropTenantSchema(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { schema: string; role: string },
  ): Promise<DroppedTenantSchema> {
    const pg = pgEndpoint(endpoint, owner);
    try {
      for (const login of appLoginRoles(spec.role)) await terminateSessions(pg, { user: login });
      return await dropTenantSchema(pg, spec);
    } catch (error) {
      throw classifyPgError(error, `dropping schema ${spec.schema}`);
    }
  }

  /** Deletes a pooled tenant's rows in short batches, children first (deleteTenantRows). */
  async deleteTenantRows(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { tenantId: string; lockTimeoutMs?: number },
  ): Promise<DeletedTenantRows> {
    try {
      return await deleteTenantRows(pgEndpoint(endpoint, owner), spec);
    } catch (error) {
      throw classifyPgError(error, 'deleting the tenant rows of the pool');
    }
  }

  /** A `pg_dump` (custom format) of a schema tenant's schema, as a stream (dumpTenantSchema). */
  dumpTenantSchema(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { schema: string; tenantId: string },
  ): Readable {
    return dumpTenantSchema(pgEndpoint(endpoint, owner), { ...spec, format: 'custom' });
  }

  /** A pooled tenant's rows export put back into its pool database, once per `importId` (importTenantRows). */
  async importTenantRows(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    body: Readable,
    spec: { tenantId: string; importId: string },
  ): Promise<TenantImportResult> {
    try {
      return await importTenantRows(pgEndpoint(endpoint, owner), body, spec);
    } catch (error) {
      throw importFailure(error, "importing the tenant's rows into the pool");
    }
  }

  /** A schema tenant's dump put back on its host with SQL after it, once per `importId` (importTenantSchema). */
  async importTenantSchema(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    dump: Readable,
    spec: { schema: string; tenantId: string; importId: string; after: string },
  ): Promise<TenantImportResult> {
    try {
      return await importTenantSchema(pgEndpoint(endpoint, owner), dump, spec);
    } catch (error) {
      throw importFailure(error, `restoring the dump of schema ${spec.schema}`);
    }
  }

  /** Whether the host committed the import `importId` (tenantImported). */
  async tenantImported(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    importId: string,
  ): Promise<boolean> {
    try {
      return await tenantImported(pgEndpoint(endpoint, owner), importId);
    } catch (error) {
      throw classifyPgError(error, 'reading the imports of the host');
    }
  }

  /** A pooled tenant's rows of every tenant table, as an NDJSON stream (exportTenantRows). */
  exportTenantRows(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { tenantId: string },
  ): Readable {
    return exportTenantRows(pgEndpoint(endpoint, owner), spec);
  }
}

/** An export that cannot go in as it is fails for good; a lost connection is tried again. */
function importFailure(error: unknown, doing: string): ProvisioningError {
  if (!(error instanceof TenantImportError)) return classifyPgError(error, doing);
  return new ProvisioningError(
    error.retryable ? ProvisioningErrorCode.DATABASE_UNAVAILABLE : ProvisioningErrorCode.DATABASE_REJECTED,
    `${doing} failed: ${error.message}`,
    { cause: error },
  );
}

export interface LoginCredentials {
  username: string;
  password: string;
}

/** Credential rotation's database side (alternating app logins, login checks). */
export interface CredentialsAdmin {
  setAppLogin(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { group: string; login: string; password: string; defaults?: RoleDefaults },
  ): Promise<AppRolesResult>;
  retireAppLogin(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { group: string; login: string },
  ): Promise<void>;
  terminateSessions(
    endpoint: TenantDatabaseEndpoint,
    owner: OwnerCredentials,
    spec: { user: string; startedBefore?: Date },
  ): Promise<TerminatedSessions>;
  checkLogin(endpoint: TenantDatabaseEndpoint, login: LoginCredentials, group?: string): Promise<void>;
}

/** Where `endpoint` is reached as `owner`, as the tenant-schema library takes it. */
export function pgEndpoint(endpoint: TenantDatabaseEndpoint, owner: OwnerCredentials): PgEndpoint {
  return {
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: owner.username,
    password: owner.password,
    ssl: endpoint.ssl,
    connectTimeoutMs: 10_000,
  };
}
