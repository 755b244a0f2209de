import { CanActivate, ExecutionContext, HttpException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthError, bearerToken, JwtVerifier, type Principal } from '@silo/auth';
import { bearerUnauthorized, problem } from '@silo/http';
import type { Request, Response } from 'express';
import { ROUTE_RULE, type RouteRule } from './route-rules';

export interface AuthenticatedRequest extends Request {
  principal?: Principal;
}

/**
 * Global guard: every route carries a rule (checked at boot by RouteRulesCheck). Missing or bad
 * token → 401 with `WWW-Authenticate: Bearer`; valid token without a listed role → 403.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: JwtVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = this.reflector.getAllAndOverride<RouteRule | undefined>(ROUTE_RULE, [
      context.getHandler(),
      context.getClass(),
    ]);
    // Fails closed: a route without a rule is refused even if the boot check was bypassed.
    if (!rule) throw new HttpException(problem(403, 'This route has no access rule.'), 403);
    if ('public' in rule) return true;

    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    let principal: Principal;
    try {
      principal = await this.verifier.verify(bearerToken(req.headers.authorization));
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      throw bearerUnauthorized(
        context.switchToHttp().getResponse<Response>(),
        error.bearerError,
        error.message,
      );
    }
    req.principal = principal;
    if (!principal.roles.some((role) => rule.roles.includes(role))) {
      throw new HttpException(
        problem(403, `This route needs one of the roles: ${rule.roles.join(', ')}.`),
        403,
      );
    }
    return true;
  }
}
