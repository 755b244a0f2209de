import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import type { Role } from '../../libs/auth/src';

/** What a token from {@link TestJwks.mint} carries besides iss, iat and exp. */
export interface TestTokenClaims {
  sub: string;
  audience: string;
  roles?: Role[];
  tenantId?: string;
}

/**
 * An identity provider's signing side, for processes that run as production does (NODE_ENV=
 * production takes no development secret): an RS256 key whose JWKS is served on loopback, and
 * tokens signed with it. `environment()` is what Silo is configured with to trust it.
 */
export class TestJwks {
  private constructor(
    private readonly server: Server,
    private readonly privateKey: KeyLike,
    readonly issuer: string,
  ) {}

  static async start(): Promise<TestJwks> {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwks = JSON.stringify({
      keys: [{ ...(await exportJWK(publicKey)), kid: 'test-1', alg: 'RS256', use: 'sig' }],
    });
    const server = createServer((req, res) => {
      if (req.url !== '/jwks.json') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new TestJwks(server, privateKey, `http://127.0.0.1:${port}`);
  }

  get jwksUrl(): string {
    return `${this.issuer}/jwks.json`;
  }

  /** AUTH_* for a Silo process that trusts this provider, with no development secret. */
  environment(audiences: { control: string; tenant: string }): Record<string, string> {
    return {
      AUTH_JWT_SECRET: '',
      AUTH_JWKS_URL: this.jwksUrl,
      AUTH_ISSUER: this.issuer,
      AUTH_AUDIENCE: audiences.control,
      TENANT_AUTH_AUDIENCE: audiences.tenant,
    };
  }

  mint(claims: TestTokenClaims): Promise<string> {
    return new SignJWT({
      ...(claims.roles ? { roles: claims.roles } : {}),
      ...(claims.tenantId ? { tenant_id: claims.tenantId } : {}),
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-1' })
      .setSubject(claims.sub)
      .setIssuer(this.issuer)
      .setAudience(claims.audience)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(this.privateKey);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
