import {
  Agent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(30_000);

interface Answer {
  status: number;
  body: string;
  socket: Socket;
  reusedSocket: boolean;
}

describe('keep-alive connections to the API', () => {
  let api: ApiHarness;
  let port: number;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  beforeAll(async () => {
    api = await startApi(testConfig());
    await api.app.listen(0, '127.0.0.1');
    port = ((api.app.getHttpServer() as Server).address() as AddressInfo).port;
  });
  afterAll(async () => {
    agent.destroy();
    await api?.close();
  });

  const send = (method: string, path: string, headers: Record<string, string> = {}, body?: object) =>
    new Promise<Answer>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req: ClientRequest = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent,
          headers: payload
            ? { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : headers,
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              socket: req.socket!,
              reusedSocket: req.reusedSocket,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  it('gives the API server the configured keep-alive and headers timeouts, not Node’s 5 s', () => {
    const server = api.app.getHttpServer() as Server;
    expect(server.keepAliveTimeout).toBe(api.config.http.keepAliveTimeoutMs);
    expect(server.headersTimeout).toBe(api.config.http.headersTimeoutMs);
    expect(api.config.http.keepAliveTimeoutMs).toBe(65_000);
  });

  it('answers a POST on a connection left idle for 6 s, on the same socket', async () => {
    const first = await send('GET', '/healthz');
    expect(first).toMatchObject({ status: 200, reusedSocket: false });

    // Longer than Node's default keep-alive (5 s), shorter than a load balancer's 60 s.
    await sleep(6_000);
    expect(first.socket.destroyed).toBe(false);

    const slug = `keep-${uniqueToken(4)}`;
    const second = await send(
      'POST',
      '/v1/tenants',
      { authorization: await api.auth(['ops']), 'idempotency-key': `keep-alive-${slug}` },
      { slug, name: 'Keep Alive Corp', tier: 'starter' },
    );
    expect(second.reusedSocket).toBe(true);
    expect(second.socket).toBe(first.socket);
    expect(second.status).toBe(202);
    expect(JSON.parse(second.body)).toMatchObject({ slug, status: 'PENDING' });
  });
});
