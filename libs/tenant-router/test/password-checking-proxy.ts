import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { Pool } from 'pg';

const SSL_REQUEST = 80877103;
const GSS_ENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const SCRAM = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/;

/**
 * A loopback proxy in front of the test PostgreSQL server that checks passwords as a real
 * instance does: SCRAM-SHA-256 against the role's stored verifier (read from pg_authid at each
 * login, so ALTER ROLE … PASSWORD takes effect at once), refusing a wrong password with FATAL
 * 28P01. The test server trusts loopback connections, so without this a rotated password would
 * never be refused. Once a client has proved its password, the proxy forwards its startup
 * message and pipes the connection to the server untouched.
 *
 * With `enforce: false` (a server that checks passwords itself) it only pipes.
 */
export class PasswordCheckingProxy {
  /** Logins refused with 28P01. */
  refusals = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
    private readonly admin: Pool,
    private readonly enforce: boolean,
  ) {
    server.on('connection', (client) => {
      this.track(client);
      this.serve(client).catch(() => client.destroy());
    });
  }

  static async start(adminUrl: string, enforce: boolean): Promise<PasswordCheckingProxy> {
    const url = new URL(adminUrl);
    // Half-open: a client's goodbye reaches the server, and the client sees its socket close
    // only once the server has closed its side, after the session ended, as with a direct connection.
    const server = createServer({ allowHalfOpen: true });
    const admin = new Pool({ connectionString: adminUrl, max: 2, connectionTimeoutMillis: 3_000 });
    const proxy = new PasswordCheckingProxy(
      server,
      { host: url.hostname, port: Number(url.port || 5432) },
      admin,
      enforce,
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.admin.end();
  }

  private async serve(client: Socket): Promise<void> {
    if (!this.enforce) return this.pipe(client, Buffer.alloc(0));
    const reader = new MessageReader(client);
    let startup: Buffer;
    for (;;) {
      const length = (await reader.read(4)).readInt32BE(0);
      const body = await reader.read(length - 4);
      const code = body.readInt32BE(0);
      if (code === SSL_REQUEST || code === GSS_ENC_REQUEST) {
        client.write('N');
        continue;
      }
      startup = Buffer.concat([int32(length), body]);
      if (code === CANCEL_REQUEST) return this.pipe(client, Buffer.concat([startup, reader.detach()]));
      break;
    }
    const user = startupParameters(startup.subarray(8)).get('user') ?? '';
    const verifier = await this.verifierOf(user);

    client.write(message('R', Buffer.concat([int32(10), cstring('SCRAM-SHA-256'), Buffer.from([0])])));
    const initial = await reader.message('p');
    const mechanismEnd = initial.indexOf(0);
    const clientFirst = initial.subarray(mechanismEnd + 5).toString();
    const clientFirstBare = clientFirst.replace(/^[^,]*,[^,]*,/, '');
    const clientNonce = /(?:^|,)r=([^,]*)/.exec(clientFirstBare)?.[1] ?? '';
    const nonce = clientNonce + randomBytes(18).toString('base64');
    const serverFirst = `r=${nonce},s=${verifier.salt},i=${verifier.iterations}`;
    client.write(message('R', Buffer.concat([int32(11), Buffer.from(serverFirst)])));

    const clientFinal = (await reader.message('p')).toString();
    const withoutProof = clientFinal.replace(/,p=[^,]*$/, '');
    const proof = Buffer.from(/,p=([^,]*)$/.exec(clientFinal)?.[1] ?? '', 'base64');
    const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = createHmac('sha256', verifier.storedKey).update(authMessage).digest();
    const proved =
      verifier.known &&
      withoutProof.endsWith(`,r=${nonce}`) &&
      proof.length === signature.length &&
      timingSafeEqual(createHash('sha256').update(xor(proof, signature)).digest(), verifier.storedKey);
    if (!proved) {
      this.refusals++;
      client.end(refusal(user));
      return;
    }
    const serverSignature = createHmac('sha256', verifier.serverKey).update(authMessage).digest('base64');
    client.write(message('R', Buffer.concat([int32(12), Buffer.from(`v=${serverSignature}`)])));
    // The server trusts the connection and answers AuthenticationOk, which is what the client expects next.
    return this.pipe(client, Buffer.concat([startup, reader.detach()]));
  }

  private async verifierOf(role: string) {
    const result = await this.admin.query<{ rolpassword: string | null }>(
      'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
      [role],
    );
    const match = SCRAM.exec(result.rows[0]?.rolpassword ?? '');
    if (!match) {
      // Unknown role or no SCRAM verifier: go through the exchange and refuse, as PostgreSQL does.
      return {
        known: false,
        iterations: 4096,
        salt: randomBytes(16).toString('base64'),
        storedKey: randomBytes(32),
        serverKey: randomBytes(32),
      };
    }
    const [, iterations, salt, storedKey, serverKey] = match;
    return {
      known: true,
      iterations: Number(iterations),
      salt,
      storedKey: Buffer.from(storedKey, 'base64'),
      serverKey: Buffer.from(serverKey, 'base64'),
    };
  }

  private pipe(client: Socket, first: Buffer): void {
    const upstream = new Socket({ allowHalfOpen: true });
    this.track(upstream);
    const abort = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', abort).on('close', () => upstream.destroy());
    upstream.on('error', abort).on('close', () => client.end());
    upstream.connect(this.target.port, this.target.host, () => {
      if (first.length > 0) upstream.write(first);
      client.pipe(upstream).pipe(client);
    });
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }
}

/** Reads whole protocol messages from a socket until detached. */
class MessageReader {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private closed = false;
  private readonly onData = (chunk: Buffer) => {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.wake?.();
  };
  private readonly onClose = () => {
    this.closed = true;
    this.wake?.();
  };

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData).on('end', this.onClose).on('close', this.onClose);
  }

  async read(length: number): Promise<Buffer> {
    while (this.buffer.length < length) {
      if (this.closed) throw new Error('client went away');
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const out = this.buffer.subarray(0, length);
    this.buffer = this.buffer.subarray(length);
    return out;
  }

  /** The body of the next message, which must be of `type`. */
  async message(type: string): Promise<Buffer> {
    const header = await this.read(5);
    if (String.fromCharCode(header[0]) !== type) throw new Error(`expected message ${type}`);
    return this.read(header.readInt32BE(1) - 4);
  }

  /** Stops reading; returns what was read ahead. */
  detach(): Buffer {
    this.socket.off('data', this.onData).off('end', this.onClose).off('close', this.onClose);
    this.socket.pause();
    return this.buffer;
  }
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(value, 0);
  return b;
}

function cstring(value: string): Buffer {
  return Buffer.concat([Buffer.from(value), Buffer.from([0])]);
}

function message(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
}

function refusal(user: string): Buffer {
  const fields = [
    ['S', 'FATAL'],
    ['V', 'FATAL'],
    ['C', '28P01'],
    ['M', `password authentication failed for user "${user}"`],
  ].map(([code, text]) => Buffer.concat([Buffer.from(code), cstring(text)]));
  return message('E', Buffer.concat([...fields, Buffer.from([0])]));
}

function startupParameters(body: Buffer): Map<string, string> {
  const parts = body.toString().split('\0');
  const params = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params.set(parts[i], parts[i + 1]);
  return params;
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}
