import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { installGracefulShutdown } from '@silo/observability';
import { Logger } from 'nestjs-pino';
import { configureExampleApp, EXAMPLE_APP_OPTIONS } from './example-app';
import { exampleAppConfigFromEnv, type ExampleAppConfig } from './example-app.config';
import { ExampleAppModule } from './example-app.module';

async function bootstrap(): Promise<void> {
  const config = configOrExit();
  const app = configureExampleApp(
    await NestFactory.create<NestExpressApplication>(ExampleAppModule.register(config), EXAMPLE_APP_OPTIONS),
    config,
  );
  installGracefulShutdown(app, { graceMs: config.shutdownGraceMs, logger: app.get(Logger) });
  await app.listen(config.port, config.host);
  app.get(Logger).log(`example tenant app listening on http://${config.host}:${config.port}`, 'Bootstrap');
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `example-tenant-app: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});

/** The configuration, or exit 1 with every bad variable named. */
function configOrExit(): ExampleAppConfig {
  try {
    return exampleAppConfigFromEnv();
  } catch (error) {
    process.stderr.write(`example-tenant-app: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
