import { applyDecorators, UseGuards, UseInterceptors } from '@nestjs/common';
import { TenantAuthGuard } from './tenant-auth.guard';
import { TenantContextInterceptor } from './tenant-context.interceptor';

/**
 * Marks a controller or route as a tenant's: a verified bearer token with `tenant_id` is
 * required (401 otherwise), the router leases that tenant's DataSource (403 for a tenant that
 * is unknown or not ACTIVE, 503 when its database cannot be reached), and the handler runs
 * inside {@link TenantContext}.
 */
export const TenantScoped = () =>
  applyDecorators(UseGuards(TenantAuthGuard), UseInterceptors(TenantContextInterceptor));
