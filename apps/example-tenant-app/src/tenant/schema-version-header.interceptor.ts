import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { TenantContext } from '@silo/tenant-router/nest';
import type { Response } from 'express';
import type { Observable } from 'rxjs';

export const SCHEMA_VERSION_HEADER = 'X-Tenant-Schema-Version';

/**
 * Answers with the tenant database's schema version, as the router last read it, in
 * `X-Tenant-Schema-Version` (no header while the control plane records none). It reads the tenant
 * context, so it must run inside `@TenantScoped()`: list it above that decorator.
 */
@Injectable()
export class SchemaVersionHeaderInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const version = TenantContext.schemaVersion();
    if (version !== null)
      context.switchToHttp().getResponse<Response>().setHeader(SCHEMA_VERSION_HEADER, version);
    return next.handle();
  }
}
