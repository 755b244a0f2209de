import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import { testEnvironment } from '../../../test/support/test-config';
import { exampleAppConfigFromEnv } from '../src/example-app.config';
import { startExampleApp } from './example-app-harness';

describe('example tenant app: HTTP server', () => {
  let app: INestApplication | undefined;
  afterEach(() => app?.close());

  it('keeps idle connections and waits for headers as configured, not Node’s 5 s', async () => {
    const config = exampleAppConfigFromEnv(
      testEnvironment({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '61000', HTTP_HEADERS_TIMEOUT_MS: '62000' }),
      false,
    );
    app = await startExampleApp(config);
    const server = app.getHttpServer() as Server;
    expect(server.keepAliveTimeout).toBe(61_000);
    expect(server.headersTimeout).toBe(62_000);
  });
});
