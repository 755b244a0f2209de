import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { SiloConfig } from '@silo/config';
import { applyServerTimeouts, configureJsonHttp } from '@silo/http';
import { Logger } from 'nestjs-pino';
import { setupOpenApi } from './openapi/openapi.setup';
import { assignRequestId } from '@silo/observability';
import type { NextFunction, Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConsoleSettings } from './console-settings';
import { securityHeaders } from './http/security-headers';

/** Options every API application is created with, by main and by tests. */
export const API_APP_OPTIONS = { bodyParser: false, bufferLogs: true } as const;

/**
 * Everything the API needs beyond its modules: pino as the Nest logger, the HTTP layer
 * (JSON-only bodies with a size limit, keep-alive and headers timeouts of the server) and the
 * OpenAPI document at `/docs` and `/docs-json`. Call before `init()`/`listen()`.
 */
export function configureApiApp(app: INestApplication, config: SiloConfig): NestExpressApplication {
  const express = app as NestExpressApplication;
  express.useLogger(express.get(Logger));
  express.use(securityHeaders(config));
  applyServerTimeouts(express.getHttpServer(), config.http);
  configureJsonHttp(express, { bodyLimitBytes: config.http.bodyLimitBytes });
  setupOpenApi(express);
  serveConsole(express, consoleSettings(config));
  return express;
}

/** Where `npm run build` puts the console (dist/console), seen from the built API or its source. */
function consoleDir(): string | undefined {
  return [resolve(__dirname, '../../../console'), resolve(__dirname, '../../../dist/console')].find((dir) =>
    existsSync(resolve(dir, 'index.html')),
  );
}

/** The console's sign-in settings, from the configuration. */
export function consoleSettings(config: SiloConfig): ConsoleSettings {
  return {
    oidc: config.console.oidc ?? null,
    pastedToken: Boolean(config.auth.jwtSecret) || !config.console.oidc,
  };
}

/**
 * The ops console's static assets under /console (no server of its own). Every path under it that
 * is not an asset answers the app's index.html, which routes in the browser. Without a build the
 * API serves no console, and /console is 404 like any unknown path.
 */
function serveConsole(app: NestExpressApplication, settings: ConsoleSettings): void {
  const dir = consoleDir();
  if (!dir) return;
  app.use('/console/config.json', (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    assignRequestId(req, res);
    res.setHeader('cache-control', 'no-cache');
    res.json(settings);
  });
  app.useStaticAssets(dir, { prefix: '/console/', index: false, fallthrough: true });
  const index = resolve(dir, 'index.html');
  app.use('/console', (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path.startsWith('/assets/')) return next();
    assignRequestId(req, res);
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(index);
  });
}
