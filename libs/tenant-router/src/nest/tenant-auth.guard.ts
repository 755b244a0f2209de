import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { AuthError, type Principal } from '@silo/auth/principal';
import { bearerToken, JwtVerifier } from '@silo/auth/jwt-verifier';
import { bearerUnauthorized } from '@silo/http/unauthorized';
import type { Request, Response } from 'express';
import type { TenantIdentity } from '../data-plane/tenant-data-plane';

/** Injection token of the {@link JwtVerifier} tenant tokens are checked with. */
export const TENANT_TOKEN_VERIFIER = Symbol('TENANT_TOKEN_VERIFIER');

/** Set on the request by the guard; a symbol, so nothing a client sends can look like it. */
export const TENANT_IDENTITY = Symbol('silo:tenant-identity');

export type TenantIdentifiedRequest = Request & { [TENANT_IDENTITY]?: TenantIdentity };

/**
 * Authenticates a tenant request: a bearer JWT that verifies and carries `tenant_id`. The tenant
 * comes from that claim only, never from a header, path or body the caller could set. Missing or
 * bad token, or a token without `tenant_id` (an operator token) → 401 problem+json with
 * `WWW-Authenticate: Bearer`. Use through `@TenantScoped()`, which adds the tenant context.
 */
@Injectable()
export class TenantAuthGuard implements CanActivate {
  constructor(@Inject(TENANT_TOKEN_VERIFIER) private readonly verifier: JwtVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<TenantIdentifiedRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    let principal: Principal;
    try {
      principal = await this.verifier.verify(bearerToken(req.headers.authorization));
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      throw bearerUnauthorized(res, error.bearerError, error.message);
    }
    if (!principal.tenantId) {
      throw bearerUnauthorized(
        res,
        'invalid_token',
        'the token carries no tenant_id claim: a tenant token is required',
      );
    }
    req[TENANT_IDENTITY] = { tenantId: principal.tenantId, principal };
    return true;
  }
}
