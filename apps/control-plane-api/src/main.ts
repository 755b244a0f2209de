import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfigOrExit } from '@silo/config';
import { installGracefulShutdown } from '@silo/observability';
import { Logger } from 'nestjs-pino';
import { API_APP_OPTIONS, configureApiApp } from './api-app';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('control-plane-api');
  const app = configureApiApp(
    await NestFactory.create<NestExpressApplication>(AppModule.register(config), API_APP_OPTIONS),
    config,
  );
  installGracefulShutdown(app, { graceMs: config.shutdownGraceMs, logger: app.get(Logger) });
  await app.listen(config.http.port, config.http.host);
  app
    .get(Logger)
    .log(`control-plane API listening on http://${config.http.host}:${config.http.port}`, 'Bootstrap');
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `control-plane-api: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
