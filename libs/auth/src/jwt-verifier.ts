import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AuthError, AuthErrorCode, ROLES, type Principal, type Role } from './principal';

/** 1–200 printable characters: stored as the actor of events (varchar 200). */
const SANE_SUB = /^[^\p{Cc}]{1,200}$/u;

export interface JwtVerifierOptions {
  /** HS256 shared secret (development). */
  hs256Secret?: string;
  /** JWKS URL (production: Cognito, Keycloak…); RS256/ES256 keys, fetched and cached by jose. */
  jwksUrl?: string;
  /** Checked when set. */
  issuer?: string;
  /** Checked when set. */
  audience?: string;
  /** Allowed clock skew in seconds. Default 30. */
  clockToleranceSeconds?: number;
}

/** Verifies bearer JWTs with jose and turns them into a {@link Principal}. */
export class JwtVerifier {
  private readonly key: Uint8Array | JWTVerifyGetKey;
  private readonly algorithms: string[];

  constructor(private readonly options: JwtVerifierOptions) {
    if (options.hs256Secret && options.jwksUrl)
      throw new Error('configure either an HS256 secret or a JWKS URL, not both');
    if (options.hs256Secret) {
      this.key = new TextEncoder().encode(options.hs256Secret);
      this.algorithms = ['HS256'];
    } else if (options.jwksUrl) {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl));
      this.algorithms = ['RS256', 'ES256', 'PS256'];
    } else {
      throw new Error('no JWT verification key: set an HS256 secret or a JWKS URL');
    }
  }

  /** The principal of a valid token; {@link AuthError} otherwise. */
  async verify(token: string | undefined): Promise<Principal> {
    if (!token) throw new AuthError(AuthErrorCode.MISSING_TOKEN, 'a bearer token is required');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as Uint8Array, {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: this.options.clockToleranceSeconds ?? 30,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired)
        throw new AuthError(AuthErrorCode.EXPIRED_TOKEN, 'the token has expired');
      if (error instanceof errors.JWTClaimValidationFailed) {
        throw new AuthError(AuthErrorCode.INVALID_TOKEN, `the token's ${error.claim} claim is not accepted`);
      }
      throw new AuthError(AuthErrorCode.INVALID_TOKEN, 'the token does not verify');
    }
    // The sub is recorded as the actor of audit events and keys rate limits: it must be a sane id.
    if (typeof payload.sub !== 'string' || !SANE_SUB.test(payload.sub)) {
      throw new AuthError(AuthErrorCode.INVALID_TOKEN, "the token's sub claim is not accepted");
    }
    const roles = Array.isArray(payload.roles)
      ? payload.roles.filter(
          (r): r is Role => typeof r === 'string' && (ROLES as readonly string[]).includes(r),
        )
      : [];
    const tenantId = typeof payload.tenant_id === 'string' ? payload.tenant_id : undefined;
    return { sub: payload.sub, roles, ...(tenantId ? { tenantId } : {}) };
  }
}

/** Splits `Authorization: Bearer <token>`; anything else counts as no token. */
export function bearerToken(header: string | undefined): string | undefined {
  // The scheme is case-insensitive (RFC 7235); the token is the three base64url parts of a JWS.
  const match = /^bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(header ?? '');
  return match?.[1];
}

/** The `auth` part of a Silo app's configuration. */
export interface AuthSettings {
  jwtSecret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

/**
 * The verifier an app's configuration asks for; refuses, naming `app` ("the API"), to build one
 * with neither a secret nor a JWKS URL, so that the app does not start unable to verify tokens.
 */
export function jwtVerifierFromSettings(auth: AuthSettings, app: string): JwtVerifier {
  if (!auth.jwtSecret && !auth.jwksUrl) {
    throw new Error(
      `${app} needs AUTH_JWT_SECRET (development) or AUTH_JWKS_URL (production) to verify tokens`,
    );
  }
  return new JwtVerifier({
    hs256Secret: auth.jwtSecret,
    jwksUrl: auth.jwksUrl,
    issuer: auth.issuer,
    audience: auth.audience,
  });
}
