import { AsyncLocalStorage } from 'node:async_hooks';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from '@silo/auth/principal';
import type { Placement } from '@silo/core/provisioning/tenant-resource-names';
import type { DataSource, EntityManager, EntityTarget, ObjectLiteral, Repository } from 'typeorm';
import type { TenantLease } from '../tenant-router.types';

/** The tenant a request is for, and its database as leased to it for the request's lifetime. */
export interface TenantRequestContext {
  readonly tenantId: string;
  readonly principal: Principal;
  /** Where the tenant's data lives (`TenantLease.placement`). */
  readonly placement: Placement;
  /**
   * The DataSource of an `instance` or `schema` tenant. Leased: do not keep it beyond the
   * request. For a pooled tenant it throws TenantLeaseError POOLED_TENANT_NEEDS_TRANSACTION (see
   * `TenantLease.dataSource`); `transaction` works in every placement.
   */
  readonly dataSource: DataSource;
  /**
   * The tenant database's schema version, from the lease (`TenantLease.schemaVersion`):
   * fixed for the request, and up to `statusTtlMs` behind a migration in progress.
   */
  readonly schemaVersion: string | null;
  /** One transaction on the tenant's database ({@link TenantLease.transaction}). */
  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T>;
}

/** The request context of `lease`'s tenant: its DataSource and transactions are the lease's. */
export function tenantRequestContext(lease: TenantLease, principal: Principal): TenantRequestContext {
  return {
    tenantId: lease.tenantId,
    principal,
    placement: lease.placement,
    get dataSource() {
      return lease.dataSource;
    },
    schemaVersion: lease.schemaVersion,
    transaction: (work) => lease.transaction(work),
  };
}

/** Set on the request next to the async context, for param decorators. */
export const TENANT_REQUEST_CONTEXT = Symbol('silo:tenant-request-context');

const storage = new AsyncLocalStorage<TenantRequestContext>();

/** Code that asks for the tenant outside a `@TenantScoped()` route (or `TenantContext.run`). */
export class TenantContextMissingError extends Error {
  override readonly name = 'TenantContextMissingError';
  constructor() {
    super(
      'no tenant context: use this only while handling a @TenantScoped() route, or inside TenantContext.run()',
    );
  }
}

/**
 * The current request's tenant, from anywhere in its call chain (controllers, services,
 * repositories) without passing it down. Backed by AsyncLocalStorage, entered by
 * `@TenantScoped()` once the guard has verified the token and the router has leased the
 * tenant's database. Code written with {@link TenantContext.transaction} runs in every
 * placement; `dataSource()`, `manager()` and `repository()` serve `instance` and `schema`
 * tenants only and throw TenantLeaseError POOLED_TENANT_NEEDS_TRANSACTION for a pooled one.
 */
export class TenantContext {
  private constructor() {}

  /** Runs `work` with `context` as the current tenant (for jobs and tests; routes get it from `@TenantScoped()`). */
  static run<T>(context: TenantRequestContext, work: () => T): T {
    return storage.run(context, work);
  }

  /** The current tenant's context; {@link TenantContextMissingError} outside one. */
  static current(): TenantRequestContext {
    const context = storage.getStore();
    if (!context) throw new TenantContextMissingError();
    return context;
  }

  /** The current tenant's control-plane id (the token's `tenant_id`). */
  static tenantId(): string {
    return TenantContext.current().tenantId;
  }

  /**
   * The current tenant's schema version (the newest tenant migration applied, e.g. to pick a code
   * path during an expand/contract migration); see {@link TenantRequestContext.schemaVersion}.
   */
  static schemaVersion(): string | null {
    return TenantContext.current().schemaVersion;
  }

  /** The current tenant's placement kind. */
  static placement(): Placement {
    return TenantContext.current().placement;
  }

  /**
   * Runs `work` in one transaction on the current tenant's database, committed when it resolves
   * and rolled back when it throws; for a pooled tenant the tenant is set first, for that
   * transaction only. Query through `manager` alone.
   */
  static transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return TenantContext.current().transaction(work);
  }

  /** The current tenant's DataSource (not for pooled tenants: use `transaction`). */
  static dataSource(): DataSource {
    return TenantContext.current().dataSource;
  }

  /** The current tenant's EntityManager, outside any transaction (not for pooled tenants). */
  static manager(): EntityManager {
    return TenantContext.current().dataSource.manager;
  }

  /** A repository of `entity` in the current tenant's database (not for pooled tenants). */
  static repository<T extends ObjectLiteral>(entity: EntityTarget<T>): Repository<T> {
    return TenantContext.current().dataSource.getRepository(entity);
  }
}

function contextOf(ctx: ExecutionContext): TenantRequestContext {
  const req = ctx.switchToHttp().getRequest<{ [TENANT_REQUEST_CONTEXT]?: TenantRequestContext }>();
  const context = req[TENANT_REQUEST_CONTEXT];
  if (!context) throw new TenantContextMissingError();
  return context;
}

/** Handler parameter: the tenant's leased DataSource (not for pooled tenants, see {@link TenantContext}). */
export const TenantDataSource = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): DataSource => contextOf(ctx).dataSource,
);

/** Handler parameter: the tenant's {@link TenantRequestContext} (id, principal, placement, transactions, schema version). */
export const CurrentTenant = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): TenantRequestContext => contextOf(ctx),
);
