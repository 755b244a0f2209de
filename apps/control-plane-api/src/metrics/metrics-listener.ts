import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { applyServerTimeouts, PROBLEM_CONTENT_TYPE, problem } from '@silo/http';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';

/**
 * With `METRICS_PORT`: `GET /metrics` on a listener of its own, on `HOST` and that port, with no
 * token. The port is meant for scrapers inside the network only: no load balancer forwards it.
 * It serves nothing else, and the API's own port then has no /metrics at all.
 */
@Injectable()
export class MetricsListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MetricsListener.name);
  private server: Server | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly config: SiloConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { host, metricsPort } = this.config.http;
    const server = applyServerTimeouts(
      createServer((req, res) => void this.answer(req, res)),
      this.config.http,
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(metricsPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.logger.log(`metrics listening on http://${host}:${this.port()}/metrics`);
  }

  /** The port the listener is bound to. */
  port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  /** The listener's HTTP server, while it listens. */
  httpServer(): Server | undefined {
    return this.server;
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname;
    if (path !== '/metrics') {
      return send(res, 404, problem(404, `Cannot ${req.method ?? 'GET'} ${path}`));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, problem(405, `${req.method} is not allowed on /metrics; allowed: GET, HEAD`));
    }
    try {
      const body = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (error) {
      this.logger.error({ err: error }, 'metrics scrape failed');
      send(res, 500, problem(500, 'The metrics could not be collected.'));
    }
  }
}

function send(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': PROBLEM_CONTENT_TYPE });
  res.end(JSON.stringify(body));
}
