import type { Server } from 'node:http';

/** How long an HTTP server keeps an idle connection and waits for a request's headers. */
export interface ServerTimeouts {
  /** Idle keep-alive connections are closed after this; above any load balancer's idle timeout. */
  keepAliveTimeoutMs: number;
  /** Above `keepAliveTimeoutMs`, so a request arriving at the end of the idle time is not cut. */
  headersTimeoutMs: number;
}

/**
 * Sets `server`'s keep-alive and headers timeouts. Node keeps an idle connection 5 s by default:
 * behind a load balancer that keeps its side 60 s, the balancer sends a request on a connection
 * the server has just closed and answers 502. The server must be the one that closes last.
 */
export function applyServerTimeouts<S extends Server>(server: S, timeouts: ServerTimeouts): S {
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  server.headersTimeout = timeouts.headersTimeoutMs;
  // A request's whole time (300 s by default) bounds its headers' time too.
  if (server.requestTimeout > 0 && server.requestTimeout < timeouts.headersTimeoutMs) {
    server.requestTimeout = timeouts.headersTimeoutMs;
  }
  return server;
}
