import { HttpException, NotFoundException } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import { problem } from '@silo/http';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { assignRequestId } from '@silo/observability';
import type { NextFunction, Request, Response } from 'express';
import { createOpenApiDocument, DOCS_JSON_PATH, DOCS_PATH } from './openapi.document';

/** What Swagger UI loads under /docs; the rest of swagger-ui-dist (package.json, README, the petstore initializer) is not served. */
const UI_FILES = new Set([
  '/',
  '/index.html',
  '/swagger-ui-init.js',
  '/swagger-ui.css',
  '/swagger-ui-bundle.js',
  '/swagger-ui-standalone-preset.js',
  '/favicon-16x16.png',
  '/favicon-32x32.png',
]);

/**
 * `GET /docs` (Swagger UI, its assets served from swagger-ui-dist, no CDN) and `GET /docs-json`.
 * SwaggerModule registers plain express routes: the global AuthGuard and the route-rules check
 * only see controllers, so these need no token, and they run before the logger middleware, so
 * the request id is assigned here. Call before `init()`.
 */
export function setupOpenApi(app: NestExpressApplication): void {
  const document = createOpenApiDocument(app);
  app.use(methodNotAllowed(document));
  app.use(`/${DOCS_JSON_PATH}`, (req: Request, res: Response, next: NextFunction) => {
    assignRequestId(req, res);
    next();
  });
  app.use(`/${DOCS_PATH}`, (req: Request, res: Response, next: NextFunction) => {
    assignRequestId(req, res);
    if (UI_FILES.has(req.path)) return next();
    next(new NotFoundException(`Cannot ${req.method} ${req.originalUrl}`));
  });
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: DOCS_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 'Silo control-plane API',
    swaggerOptions: { validatorUrl: null },
  });
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * 405 with `Allow` for a method the document does not list on a path it does (TRACE, PUT on a
 * tenant…), instead of the router's 404; HEAD goes with GET. Paths the document does not know
 * stay 404.
 */
export function methodNotAllowed(document: OpenAPIObject) {
  const routes = Object.entries(document.paths).map(([path, item]) => {
    const pattern = new RegExp(
      `^${path
        .split(/\{[^}]+\}/)
        .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
        .join('[^/]+')}/?$`,
    );
    const allowed = METHODS.filter((m) => (item as Record<string, unknown>)[m] !== undefined).map((m) =>
      m.toUpperCase(),
    );
    if (allowed.includes('GET') && !allowed.includes('HEAD')) allowed.push('HEAD');
    return { pattern, allowed };
  });
  routes.push({ pattern: new RegExp(`^/${DOCS_JSON_PATH}/?$`), allowed: ['GET', 'HEAD'] });
  return (req: Request, res: Response, next: NextFunction) => {
    const route = routes.find((r) => r.pattern.test(req.path));
    if (!route || route.allowed.includes(req.method)) return next();
    assignRequestId(req, res);
    res.setHeader('Allow', route.allowed.join(', '));
    next(
      new HttpException(
        problem(405, `${req.method} is not allowed on ${req.path}; allowed: ${route.allowed.join(', ')}`),
        405,
      ),
    );
  };
}
