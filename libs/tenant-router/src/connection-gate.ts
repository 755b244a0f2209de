import { Client, type ClientConfig } from 'pg';
import { parseServerFirst, scramClientFinal, type ScramKeyCache } from './scram-keys';
import { TimedWaiters } from './timed-waiters';

/**
 * The connection budget, on live connections: every connection a tenant pool opens passes this
 * gate first and gives its place back when it ends, so the process never holds more than
 * `budget` connections to tenant databases, whatever the pools' sizes add up to. Pools keep no
 * connection they do not use (pg's idle timeout, no minimum), so a cached DataSource of a quiet
 * tenant costs no connection. When the budget is spent, openings wait in FIFO order while the
 * router closes idle connections of the least recently used pools (`shed`); an opening that gets
 * no place within the pool's connect timeout fails like a connect timeout. Internal.
 */
export class ConnectionGate {
  /** Connections open or connecting now. */
  live = 0;
  /** Highest `live` seen. */
  peak = 0;
  /** Openings that had to wait for a place. */
  waited = 0;
  private readonly queue = new TimedWaiters();
  private shedding = false;
  /** Idle connections asked to close whose end has not come yet (roughly: any end counts). */
  private closingSoon = 0;

  constructor(
    private readonly budget: number,
    /** Closes one idle pooled connection somewhere (least frequently used first); false when none is idle. */
    private readonly shedOne: () => boolean,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  /** A connection would get a place now without another's being closed. */
  hasRoom(): boolean {
    return this.queue.length === 0 && this.live < this.budget;
  }

  /** Resolves once this connection has its place; rejects with `onTimeout()` after `timeoutMs`. */
  enter(timeoutMs: number, onTimeout: () => Error): Promise<void> {
    if (this.hasRoom()) {
      this.take();
      return Promise.resolve();
    }
    this.waited++;
    const entered = this.queue.wait(timeoutMs, onTimeout);
    this.pump();
    return entered;
  }

  /** A connection that entered has ended (or never connected). */
  leave(): void {
    this.live--;
    if (this.closingSoon > 0) this.closingSoon--;
    this.pump();
  }

  /**
   * Gives free places to waiters in order, then asks for idle connections to be closed for those
   * still waiting (each one closed comes back through `leave`). Call it when a pooled connection
   * may have turned idle.
   */
  pump(): void {
    while (this.queue.length > 0 && this.live < this.budget) {
      this.take();
      this.queue.wakeFirst();
    }
    if (this.queue.length === 0 || this.shedding) return;
    this.shedding = true;
    try {
      // One per waiter beyond what is already on its way back; closing is asynchronous.
      while (this.closingSoon < this.queue.length && this.shedOne()) this.closingSoon++;
    } finally {
      this.shedding = false;
    }
  }

  /** Fails every waiter (the router is closing). */
  rejectAll(error: Error): void {
    this.queue.rejectAll(error);
  }

  private take(): void {
    this.live++;
    if (this.live > this.peak) this.peak = this.live;
  }
}

/**
 * At most `max` connections authenticating at once (a SCRAM handshake costs the server a few
 * milliseconds of CPU, and a burst of cold tenants would otherwise spend the machine on them
 * while warm tenants' queries wait). FIFO. Internal.
 */
export class ConnectSlots {
  private busy = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly max: number) {}

  acquire(): Promise<void> {
    if (this.busy < this.max) {
      this.busy++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.busy--;
  }
}

type ConnectCallback = (error: Error | null) => void;

/** The parts of pg's Client that its SCRAM exchange uses (pg 8: lib/client.js, lib/crypto/sasl.js). */
interface PgSaslClient {
  password?: unknown;
  enableChannelBinding?: boolean;
  scramMaxIterations?: number;
  saslSession?: {
    mechanism?: string;
    clientNonce?: string;
    message?: string;
    response?: string;
    serverSignature?: string;
  } | null;
  connection: {
    sendSCRAMClientFinalMessage(response: string): void;
    emit(event: 'error', error: unknown): void;
  };
  _handleAuthSASLContinue(message: { data: string }): Promise<void>;
}

/**
 * A pg Client class for one tenant pool (`extra.Client`): its connect() first enters the gate,
 * and its place is given back exactly once, when the connection ends or fails to open. The wait
 * for a place is bounded by the pool's own connect timeout. A SCRAM-SHA-256 login (without
 * channel binding) takes its keys from `scramKeys`, so that reconnecting skips PBKDF2; pg's own
 * code checks the server's final signature as before. Anything else authenticates as pg does.
 */
export function gatedClientClass(
  gate: ConnectionGate,
  slots: ConnectSlots,
  timeoutMs: number,
  onTimeout: () => Error,
  scramKeys?: ScramKeyCache,
): typeof Client {
  const pgClient = Client.prototype as unknown as PgSaslClient;
  class GatedClient extends Client {
    /** Holds a place in the gate now. */
    private inGate = false;

    constructor(config?: string | ClientConfig) {
      super(config);
      this.once('end', () => this.leaveGate());
    }

    // pg-pool calls connect(callback); the promise form is kept for anyone else.
    override connect(): Promise<Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<Client> | void {
      if (callback === undefined)
        return new Promise<Client>((resolve, reject) =>
          this.gatedConnect((error) => (error ? reject(error) : resolve(this))),
        );
      this.gatedConnect(callback as ConnectCallback);
    }

    private gatedConnect(callback: ConnectCallback): void {
      gate
        .enter(timeoutMs, onTimeout)
        .then(() => {
          this.inGate = true;
          return slots.acquire();
        })
        .then(
          () => {
            // pg-pool's connect timeout may have torn the socket down while this waited.
            const stream = (this as unknown as { connection?: { stream?: { destroyed?: boolean } } })
              .connection?.stream;
            if (stream?.destroyed) {
              slots.release();
              this.leaveGate();
              callback(onTimeout());
              return;
            }
            super.connect((error: Error | null | undefined) => {
              slots.release();
              if (error) this.leaveGate();
              callback(error ?? null);
            });
          },
          (error: Error) => {
            this.leaveGate();
            callback(error);
          },
        );
    }

    private leaveGate(): void {
      if (!this.inGate) return;
      this.inGate = false;
      gate.leave();
    }

    /** pg calls it with the server-first-message; replaces pg's derivation with the cache's. */
    async _handleAuthSASLContinue(message: { data: string }): Promise<void> {
      const self = this as unknown as PgSaslClient;
      const session = self.saslSession;
      const password = self.password;
      if (
        scramKeys === undefined ||
        self.enableChannelBinding ||
        session?.mechanism !== 'SCRAM-SHA-256' ||
        session.message !== 'SASLInitialResponse' ||
        !session.clientNonce ||
        typeof password !== 'string' ||
        password === ''
      )
        return pgClient._handleAuthSASLContinue.call(self, message);
      try {
        const { salt, iterations } = parseServerFirst(message.data);
        const max = self.scramMaxIterations ?? 100_000;
        if (max !== 0 && iterations > max)
          throw new Error(`SASL: SCRAM-SERVER-FIRST-MESSAGE: iteration count ${iterations} exceeds ${max}`);
        const final = scramClientFinal({
          clientFirstBare: `n=*,r=${session.clientNonce}`,
          clientNonce: session.clientNonce,
          serverFirst: message.data,
          channelBinding: 'biws',
          keys: await scramKeys.keysFor(password, salt, iterations),
        });
        session.message = 'SASLResponse';
        session.serverSignature = final.serverSignature;
        session.response = final.response;
        self.connection.sendSCRAMClientFinalMessage(final.response);
      } catch (error) {
        self.connection.emit('error', error);
      }
    }
  }
  return GatedClient;
}
