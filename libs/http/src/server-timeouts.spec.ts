import { createServer } from 'node:http';
import { applyServerTimeouts } from './server-timeouts';

describe('applyServerTimeouts', () => {
  it('sets the keep-alive and headers timeouts in place of Node’s 5 s and 60 s', () => {
    const server = createServer();
    expect(server.keepAliveTimeout).toBe(5000);
    expect(applyServerTimeouts(server, { keepAliveTimeoutMs: 65_000, headersTimeoutMs: 66_000 })).toBe(
      server,
    );
    expect(server.keepAliveTimeout).toBe(65_000);
    expect(server.headersTimeout).toBe(66_000);
    expect(server.requestTimeout).toBe(300_000);
  });

  it('lifts the request timeout when the headers timeout is longer', () => {
    const server = applyServerTimeouts(createServer(), {
      keepAliveTimeoutMs: 600_000,
      headersTimeoutMs: 601_000,
    });
    expect(server.requestTimeout).toBe(601_000);
  });
});
