import { parseTenantRouteSignal, tenantRouteChannel } from '@silo/core/tenant/tenant-route-signal';
import type { Redis, RedisOptions } from 'ioredis';
import type { TenantRouteSignalOptions, TenantRouterLog } from './tenant-router.types';

/** The subscriber's own connection: queue the SUBSCRIBE until connected, and reconnect forever. */
const SUBSCRIBER_OPTIONS: Partial<RedisOptions> = {
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
  autoResubscribe: true,
  lazyConnect: false,
  connectTimeout: 2_000,
  // Capped: Redis coming back must heal the subscription within a couple of seconds.
  retryStrategy: (times: number) => Math.min(100 * times, 2_000),
};

/**
 * Listens to the control plane's route signals (`<prefix>:tenant-routes`) on a Redis connection
 * of its own and tells `onSignal` which tenant's route changed; a message that is not a signal is
 * ignored. A signal is a hint, never trusted further: the router looks the tenant up. While the
 * connection is lost it says so once, keeps reconnecting and, subscribed again, calls
 * `onResubscribed` (signals may have been missed meanwhile). Serving never depends on it.
 * Internal to the router.
 */
export class TenantRouteSignals {
  /** Signals heard (well-formed ones). */
  received = 0;
  private readonly channel: string;
  private connection: Redis | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;
  private lost = false;

  constructor(
    private readonly options: TenantRouteSignalOptions,
    private readonly onSignal: (tenantId: string) => void,
    private readonly onResubscribed: () => void,
    private readonly log: TenantRouterLog,
  ) {
    this.channel = tenantRouteChannel(options.resourcePrefix);
  }

  /** Connects and subscribes in the background; failures are logged, never thrown. */
  start(): void {
    this.starting ??= this.connect().catch((error: unknown) =>
      this.log.warn({ err: error }, 'route signals could not be subscribed to; relying on the status TTL'),
    );
  }

  /** Unsubscribes and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.starting;
    const connection = this.connection;
    this.connection = undefined;
    if (connection === undefined) return;
    await connection.quit().catch(() => connection.disconnect());
  }

  private async connect(): Promise<void> {
    const connection = await this.newConnection();
    if (this.closed) {
      connection.disconnect();
      return;
    }
    this.connection = connection;
    connection.on('message', (channel: string, message: string) => this.heard(channel, message));
    // ioredis emits 'error' on every failed reconnect: said once, as the loss.
    connection.on('error', (error: unknown) => this.wentAway(error));
    connection.on('close', () => this.wentAway(undefined));
    connection.on('ready', () => {
      // autoResubscribe has subscribed again by 'ready'; signals sent meanwhile were missed.
      if (!this.lost || this.closed) return;
      this.lost = false;
      this.log.warn({ channel: this.channel }, 'route signals are heard again');
      this.onResubscribed();
    });
    await connection.subscribe(this.channel);
  }

  private async newConnection(): Promise<Redis> {
    const redis = this.options.redis;
    if (typeof redis !== 'string') return redis.duplicate(SUBSCRIBER_OPTIONS);
    // ioredis is a peer the package loads only for this.
    const { Redis: RedisClient } = await import('ioredis');
    return new RedisClient(redis, SUBSCRIBER_OPTIONS);
  }

  private heard(channel: string, message: string): void {
    if (channel !== this.channel) return;
    const signal = parseTenantRouteSignal(message);
    if (signal === null) return;
    this.received++;
    this.onSignal(signal.tenantId);
  }

  private wentAway(error: unknown): void {
    if (this.lost || this.closed) return;
    this.lost = true;
    this.log.warn(
      { channel: this.channel, err: error },
      'route signals cannot be heard; relying on the status TTL until Redis answers again',
    );
  }
}
