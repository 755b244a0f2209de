import { Body, Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';

/** The baseline: what Nest on platform-express costs with nothing of Silo's in the way. */
@Controller('bare')
class BareController {
  @Get()
  get() {
    return { status: 'ok', at: 'bare' };
  }

  @Post()
  @HttpCode(202)
  post(@Body() body: unknown) {
    return body;
  }
}

@Module({ controllers: [BareController] })
class BareModule {}

/**
 * A bare Nest app on 127.0.0.1 and a free port: one controller, Nest's default body parser,
 * no guards, filters, logging or database.
 *
 * Create it before the API: `logger: false` replaces Nest's process-wide logger, which the API
 * then sets to its own pino logger again. `track` gets the app before it listens.
 */
export async function startBareApp(
  track: (app: NestExpressApplication) => void,
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(BareModule, {
    logger: false,
    abortOnError: false,
  });
  track(app);
  await app.listen(0, '127.0.0.1');
  return app;
}
