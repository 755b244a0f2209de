import { createRequire } from 'node:module';
import { deriveScramKeys, parseServerFirst, scramClientFinal, ScramKeyCache } from './scram-keys';

/** pg's own SCRAM client (untyped), the reference the router's must agree with. */
const { continueSession } = createRequire(__filename)('pg/lib/crypto/sasl') as {
  continueSession(session: Record<string, unknown>, password: string, serverData: string): Promise<void>;
};

// RFC 7677 §3: the SCRAM-SHA-256 exchange of user "user" with password "pencil".
const RFC = {
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  clientFirstBare: 'n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverSignature: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

describe('SCRAM-SHA-256 client-final-message', () => {
  it("matches RFC 7677's example exchange", async () => {
    const keys = await deriveScramKeys(RFC.password, 'W22ZaJ0SNY7soEsUEjb6gQ==', 4096);
    expect(
      scramClientFinal({
        clientFirstBare: RFC.clientFirstBare,
        clientNonce: RFC.clientNonce,
        serverFirst: RFC.serverFirst,
        channelBinding: 'biws',
        keys,
      }),
    ).toEqual({ response: RFC.clientFinal, serverSignature: RFC.serverSignature });
  });

  it("says what pg's own implementation says for pg's client-first-message (n=*), password with SASLprep", async () => {
    const password = 'pass\u00A0word\u00ADé'; // a non-ASCII space, a soft hyphen, a precomposed é
    const clientNonce = 'Zm9vYmFyYmF6cXV4cXV1eA==';
    const serverFirst = `r=${clientNonce}c2VydmVyLW5vbmNl,s=c2FsdHNhbHRzYWx0,i=4096`;
    const session = { mechanism: 'SCRAM-SHA-256', clientNonce, message: 'SASLInitialResponse' } as Record<
      string,
      unknown
    >;
    await continueSession(session, password, serverFirst);
    const { salt, iterations } = parseServerFirst(serverFirst);
    const ours = scramClientFinal({
      clientFirstBare: `n=*,r=${clientNonce}`,
      clientNonce,
      serverFirst,
      channelBinding: 'biws',
      keys: await deriveScramKeys(password, salt, iterations),
    });
    expect(ours).toEqual({ response: session.response, serverSignature: session.serverSignature });
  });

  it('refuses a server nonce that does not extend the client nonce, and malformed messages', async () => {
    const keys = await deriveScramKeys('pw', 'c2FsdA==', 4096);
    const final = (serverFirst: string) => () =>
      scramClientFinal({
        clientFirstBare: 'n=*,r=abc',
        clientNonce: 'abc',
        serverFirst,
        channelBinding: 'biws',
        keys,
      });
    expect(final('r=xyzdef,s=c2FsdA==,i=4096')).toThrow(/does not extend the client nonce/);
    expect(final('r=abc,s=c2FsdA==,i=4096')).toThrow(/does not extend the client nonce/);
    expect(() => parseServerFirst('r=abcdef,s=c2FsdA==')).toThrow(/iteration count/);
    expect(() => parseServerFirst('r=abcdef,s=not base64!,i=4096')).toThrow(/salt/);
    expect(() => parseServerFirst('garbage')).toThrow(/invalid attribute/);
  });
});

describe('ScramKeyCache', () => {
  it('derives once per password, salt and iteration count, and again for any other', async () => {
    const cache = new ScramKeyCache(10);
    const [a, b] = await Promise.all([
      cache.keysFor('pw', 'c2FsdA==', 4096),
      cache.keysFor('pw', 'c2FsdA==', 4096),
    ]);
    const c = await cache.keysFor('pw', 'c2FsdA==', 4096);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect({ derivations: cache.derivations, hits: cache.hits }).toEqual({ derivations: 1, hits: 1 });

    // A rotated password, the same password set again (a new salt), another count: new keys.
    const rotated = await cache.keysFor('pw2', 'c2FsdA==', 4096);
    const resalted = await cache.keysFor('pw', 'b3RoZXI=', 4096);
    const recounted = await cache.keysFor('pw', 'c2FsdA==', 8192);
    for (const other of [rotated, resalted, recounted])
      expect(other.clientKey.equals(a.clientKey)).toBe(false);
    expect(cache.derivations).toBe(4);
    expect(await deriveScramKeys('pw2', 'c2FsdA==', 4096)).toEqual(rotated);
  });

  it('keeps at most max entries, dropping the least recently used', async () => {
    const cache = new ScramKeyCache(2);
    await cache.keysFor('a', 'c2FsdA==', 16);
    await cache.keysFor('b', 'c2FsdA==', 16);
    await cache.keysFor('a', 'c2FsdA==', 16); // a is now the most recently used
    await cache.keysFor('c', 'c2FsdA==', 16); // drops b
    expect(cache.size).toBe(2);
    await cache.keysFor('a', 'c2FsdA==', 16);
    expect(cache.derivations).toBe(3);
    await cache.keysFor('b', 'c2FsdA==', 16);
    expect(cache.derivations).toBe(4);
  });
});
