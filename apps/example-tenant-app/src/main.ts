import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfigOrExit } from '@silo/config';
import { installGracefulShutdown } from '@silo/observability';
import { Logger } from 'nestjs-pino';
import { configureExampleApp, EXAMPLE_APP_OPTIONS } from './example-app';
import { ExampleAppModule } from './example-app.module';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('example-tenant-app');
  const app = configureExampleApp(
    await NestFactory.create<NestExpressApplication>(ExampleAppModule.register(config), EXAMPLE_APP_OPTIONS),
    config,
  );
  installGracefulShutdown(app, { graceMs: config.shutdownGraceMs, logger: app.get(Logger) });
  await app.listen(config.exampleApp.port, config.http.host);
  app
    .get(Logger)
    .log(`example tenant app listening on http://${config.http.host}:${config.exampleApp.port}`, 'Bootstrap');
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `example-tenant-app: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
