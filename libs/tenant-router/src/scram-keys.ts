import { createHash, createHmac, pbkdf2 } from 'node:crypto';

/** ClientKey and ServerKey of SCRAM-SHA-256 (RFC 5802 §3), derived from one password and salt. */
export interface ScramKeys {
  clientKey: Buffer;
  serverKey: Buffer;
}

/** What the client sends last and what it expects the server to prove (RFC 5802 §3). */
export interface ScramClientFinal {
  /** client-final-message: `c=…,r=…,p=<proof>`. */
  response: string;
  /** The ServerSignature, base64: the server-final-message must carry it. */
  serverSignature: string;
}

/**
 * SCRAM-SHA-256 keys remembered per password, salt and iteration count, so that a tenant pool
 * that reconnects (its idle connections were closed to stay under the connection budget) skips
 * the salted-password derivation: 4,096 rounds of PBKDF2, about 2 ms of CPU per connection, a
 * third of what a connection costs the machine. The server picks the salt per role when the
 * password is set, so a rotated password, or the same password set again, derives anew. Entries
 * are keyed by a SHA-256 over the password, salt and count, never by the password itself; the
 * keys are password equivalents for this server, held in memory only (as the router already
 * holds the password), least recently used dropped past `max`. Internal.
 */
export class ScramKeyCache {
  hits = 0;
  derivations = 0;
  private readonly keys = new Map<string, ScramKeys>();
  private readonly pending = new Map<string, Promise<ScramKeys>>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.keys.size;
  }

  /** The keys of `password` under `salt` (base64) and `iterations`, derived at most once while cached. */
  keysFor(password: string, salt: string, iterations: number): Promise<ScramKeys> {
    const id = createHash('sha256')
      .update(`${iterations}\0${salt}\0`)
      .update(saslPrep(password))
      .digest('base64');
    const known = this.keys.get(id);
    if (known !== undefined) {
      this.hits++;
      this.keys.delete(id);
      this.keys.set(id, known);
      return Promise.resolve(known);
    }
    let deriving = this.pending.get(id);
    if (deriving === undefined) {
      this.derivations++;
      deriving = deriveScramKeys(password, salt, iterations).finally(() => this.pending.delete(id));
      deriving.then(
        (keys) => this.remember(id, keys),
        () => undefined,
      );
      this.pending.set(id, deriving);
    }
    return deriving;
  }

  private remember(id: string, keys: ScramKeys): void {
    this.keys.set(id, keys);
    if (this.keys.size > this.max) this.keys.delete(this.keys.keys().next().value!);
  }
}

/** PBKDF2-HMAC-SHA-256 of the SASLprep'd password, then the two HMACs of RFC 5802 §3. */
export function deriveScramKeys(password: string, salt: string, iterations: number): Promise<ScramKeys> {
  return new Promise((resolve, reject) => {
    pbkdf2(saslPrep(password), Buffer.from(salt, 'base64'), iterations, 32, 'sha256', (error, salted) => {
      if (error) reject(error);
      else resolve({ clientKey: hmac(salted, 'Client Key'), serverKey: hmac(salted, 'Server Key') });
    });
  });
}

/**
 * The client-final-message for a server-first-message (`r=…,s=…,i=…`), without channel binding
 * (`channelBinding` is the base64 gs2 header, `biws` for `n,,`), and the signature the server must
 * answer with. Checks what pg's own implementation checks: the server's nonce extends ours.
 */
export function scramClientFinal(options: {
  clientFirstBare: string;
  clientNonce: string;
  serverFirst: string;
  channelBinding: string;
  keys: ScramKeys;
}): ScramClientFinal {
  const { nonce } = parseServerFirst(options.serverFirst);
  if (!nonce.startsWith(options.clientNonce) || nonce.length === options.clientNonce.length)
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: server nonce does not extend the client nonce');
  const withoutProof = `c=${options.channelBinding},r=${nonce}`;
  const authMessage = `${options.clientFirstBare},${options.serverFirst},${withoutProof}`;
  const storedKey = createHash('sha256').update(options.keys.clientKey).digest();
  const clientSignature = hmac(storedKey, authMessage);
  const proof = Buffer.alloc(clientSignature.length);
  for (let i = 0; i < proof.length; i++) proof[i] = options.keys.clientKey[i] ^ clientSignature[i];
  return {
    response: `${withoutProof},p=${proof.toString('base64')}`,
    serverSignature: hmac(options.keys.serverKey, authMessage).toString('base64'),
  };
}

/** The server-first-message's nonce, salt (base64) and iteration count. */
export function parseServerFirst(serverFirst: string): { nonce: string; salt: string; iterations: number } {
  const attributes = new Map<string, string>();
  for (const part of serverFirst.split(',')) {
    if (!/^[a-z]=/.test(part)) throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: invalid attribute');
    attributes.set(part[0], part.slice(2));
  }
  const nonce = attributes.get('r');
  const salt = attributes.get('s');
  const count = attributes.get('i') ?? '';
  const iterations = /^[1-9][0-9]*$/.test(count) ? Number(count) : NaN;
  if (!nonce || !/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce))
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: nonce missing or not printable');
  if (!salt || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(salt))
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: salt missing or not base64');
  if (!Number.isInteger(iterations) || iterations < 1)
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: iteration count missing or not a positive integer');
  return { nonce, salt, iterations };
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

/**
 * SASLprep (RFC 4013) as pg and PostgreSQL apply it to a SCRAM password: non-ASCII spaces to a
 * space, the characters "commonly mapped to nothing" removed, then NFKC.
 */
function saslPrep(password: string): string {
  return password
    .replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, ' ')
    .replace(/\u00AD|\u034F|\u1806|[\u180B-\u180D]|\u200C|\u200D|\u2060|[\uFE00-\uFE0F]|\uFEFF/g, '')
    .normalize('NFKC');
}
