import { AsyncLocalStorage } from 'node:async_hooks';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from '@silo/auth';
import type { DataSource, EntityManager, EntityTarget, ObjectLiteral, Repository } from 'typeorm';

/** The tenant a request is for, and the DataSource leased to it for the request's lifetime. */
export interface TenantRequestContext {
  readonly tenantId: string;
  readonly principal: Principal;
  /** The tenant's own database. Leased: do not keep it beyond the request. */
  readonly dataSource: DataSource;
  /**
   * The tenant database's schema version, from the lease (`TenantLease.schemaVersion`):
   * fixed for the request, and up to `statusTtlMs` behind a migration in progress.
   */
  readonly schemaVersion: string | null;
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
 * tenant's DataSource.
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

  /** The current tenant's DataSource. */
  static dataSource(): DataSource {
    return TenantContext.current().dataSource;
  }

  /** The current tenant's EntityManager. */
  static manager(): EntityManager {
    return TenantContext.current().dataSource.manager;
  }

  /** A repository of `entity` in the current tenant's database. */
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

/** Handler parameter: the tenant's leased DataSource. */
export const TenantDataSource = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): DataSource => contextOf(ctx).dataSource,
);

/** Handler parameter: the tenant's {@link TenantRequestContext} (id, principal, DataSource, schema version). */
export const CurrentTenant = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): TenantRequestContext => contextOf(ctx),
);
