import { SetMetadata } from '@nestjs/common';
import type { Role } from '@silo/auth';

export const ROUTE_RULE = 'silo:route-rule';

/** Who may call a route: anyone (no token), or callers holding one of the roles. */
export type RouteRule = { public: true } | { roles: readonly Role[] };

/** The route needs no token (probes, docs). */
export const Public = () => SetMetadata(ROUTE_RULE, { public: true } satisfies RouteRule);

/** The route needs a valid token with at least one of `roles`. */
export const Roles = (...roles: [Role, ...Role[]]) => SetMetadata(ROUTE_RULE, { roles } satisfies RouteRule);
