import type { SiloConfig } from '@silo/config';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

type CspDirectives = Record<string, string[]>;

/** Never framed, nothing loaded from elsewhere, no referrer sent. */
const COMMON = {
  'base-uri': ["'none'"],
  'object-src': ["'none'"],
  'frame-ancestors': ["'none'"],
  'form-action': ["'self'"],
};

/**
 * The console's policy: its own scripts and styles only (no inline script, no eval), and fetches
 * to the API and, when OIDC sign-in is configured, to the issuer's origin, where oidc-client-ts
 * reads the discovery document and exchanges the code at the token endpoint.
 */
export function consoleCsp(config: Pick<SiloConfig, 'console'>): CspDirectives {
  const issuer = config.console.oidc ? [new URL(config.console.oidc.authority).origin] : [];
  return {
    ...COMMON,
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'style-src': ["'self'"],
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'"],
    'connect-src': ["'self'", ...issuer],
  };
}

/** Swagger UI: its own scripts; its page carries inline <style> blocks. */
const DOCS_CSP: CspDirectives = {
  ...COMMON,
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
};

/** JSON answers load nothing. */
const API_CSP: CspDirectives = { ...COMMON, 'default-src': ["'none'"] };

function headers(directives: CspDirectives): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Not includeSubDomains: the API's host says nothing about its siblings'.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
  });
}

/**
 * Security headers on every answer (helmet): `X-Content-Type-Options: nosniff`,
 * `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, HSTS, cross-origin isolation of
 * resources, no `X-Powered-By`, and a Content-Security-Policy by what is served: the console's
 * ({@link consoleCsp}) under /console, Swagger UI's under /docs, `default-src 'none'` elsewhere.
 * Every policy has `frame-ancestors 'none'`.
 */
export function securityHeaders(config: Pick<SiloConfig, 'console'>): RequestHandler {
  const console = headers(consoleCsp(config));
  const docs = headers(DOCS_CSP);
  const api = headers(API_CSP);
  return (req: Request, res: Response, next: NextFunction) => {
    const path = req.path;
    const handler = under(path, '/console') ? console : under(path, '/docs') ? docs : api;
    handler(req, res, next);
  };
}

function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}
