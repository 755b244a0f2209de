import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AuthError, AuthErrorCode, ROLES, type Principal, type Role, type TokenPlane } from './principal';

/** 1–200 printable characters: stored as the actor of events (varchar 200). */
const SANE_SUB = /^[^\p{Cc}]{1,200}$/u;

export interface JwtVerifierOptions {
  /** HS256 shared secret (development). */
  hs256Secret?: string;
  /** JWKS URL (production: Cognito, Keycloak…); RS256/ES256 keys, fetched and cached by jose. */
  jwksUrl?: string;
  /** Checked when set. */
  issuer?: string;
  /** Checked when set: the token's `aud` must include it. */
  audience?: string;
  /**
   * The plane this verifier guards; it refuses the other plane's claims with 403 (WRONG_PLANE):
   * `tenant_id` on the control plane, `roles` on the data plane. Unset: neither is refused.
   */
  plane?: TokenPlane;
  /**
   * The other plane's audience. A token that verifies for it (and not for `audience`) is answered
   * 403 WRONG_PLANE instead of 401, so a caller learns it holds the wrong kind of token.
   */
  otherPlaneAudience?: string;
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
    if (options.otherPlaneAudience && options.otherPlaneAudience === options.audience)
      throw new Error("the other plane's audience must differ from this plane's");
  }

  /** The plane this verifier guards, if any. */
  get plane(): TokenPlane | undefined {
    return this.options.plane;
  }

  /** The audience a token must be for, if any. */
  get audience(): string | undefined {
    return this.options.audience;
  }

  /** The principal of a valid token; {@link AuthError} otherwise. */
  async verify(token: string | undefined): Promise<Principal> {
    if (!token) throw new AuthError(AuthErrorCode.MISSING_TOKEN, 'a bearer token is required');
    const { audience, otherPlaneAudience, plane } = this.options;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as Uint8Array, {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        // Both audiences verify the signature; which of them the token is for is decided below.
        audience: audience && otherPlaneAudience ? [audience, otherPlaneAudience] : audience,
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
    if (audience && otherPlaneAudience && !audiencesOf(payload).includes(audience)) {
      throw new AuthError(
        AuthErrorCode.WRONG_PLANE,
        `the token is for the ${plane === 'data-plane' ? 'control plane' : 'data plane'}'s audience, not this one's`,
      );
    }
    if (plane === 'control-plane' && payload.tenant_id !== undefined) {
      throw new AuthError(
        AuthErrorCode.WRONG_PLANE,
        'the token carries tenant_id: the control plane accepts operator tokens only, never tenant tokens',
      );
    }
    if (plane === 'data-plane' && payload.roles !== undefined) {
      throw new AuthError(
        AuthErrorCode.WRONG_PLANE,
        'the token carries roles: the data plane accepts tenant tokens only, never operator tokens',
      );
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

function audiencesOf(payload: JWTPayload): string[] {
  if (typeof payload.aud === 'string') return [payload.aud];
  return Array.isArray(payload.aud) ? payload.aud : [];
}

/** The `auth` part of a Silo app's configuration. */
export interface AuthSettings {
  jwtSecret?: string;
  jwksUrl?: string;
  issuer?: string;
  /** The control plane's audience (AUTH_AUDIENCE). */
  audience?: string;
  /** The data plane's audience (TENANT_AUTH_AUDIENCE). */
  tenantAudience?: string;
  /** NODE_ENV=production: only a JWKS will do. */
  production?: boolean;
}

/**
 * The verifier of one plane that an app's configuration asks for: the control plane (the API)
 * checks AUTH_AUDIENCE, the data plane (tenant apps) TENANT_AUTH_AUDIENCE, and each refuses the
 * other's claims. Refuses, naming `app` ("the API"), to build one with neither a secret nor a
 * JWKS URL, or a data-plane verifier without its own audience, so that the app does not start
 * unable to tell the two kinds of token apart.
 */
export function jwtVerifierFromSettings(auth: AuthSettings, app: string, plane: TokenPlane): JwtVerifier {
  if (!auth.jwtSecret && !auth.jwksUrl) {
    throw new Error(
      auth.production
        ? `${app} needs AUTH_JWKS_URL with NODE_ENV=production to verify tokens (AUTH_JWT_SECRET is for development only)`
        : `${app} needs AUTH_JWT_SECRET (development) or AUTH_JWKS_URL (production) to verify tokens`,
    );
  }
  if (auth.production && auth.jwtSecret) {
    throw new Error(
      `${app} takes no AUTH_JWT_SECRET with NODE_ENV=production: verify tokens through AUTH_JWKS_URL`,
    );
  }
  if (plane === 'control-plane' && !auth.audience) {
    throw new Error(
      `${app} needs AUTH_AUDIENCE: the control plane accepts only tokens for its own audience, never a tenant app's (TENANT_AUTH_AUDIENCE)`,
    );
  }
  if (plane === 'data-plane' && !auth.tenantAudience) {
    throw new Error(
      `${app} needs TENANT_AUTH_AUDIENCE: the data plane accepts only tokens for its own audience, never the control plane's (AUTH_AUDIENCE)`,
    );
  }
  const [audience, otherPlaneAudience] =
    plane === 'control-plane' ? [auth.audience, auth.tenantAudience] : [auth.tenantAudience, auth.audience];
  return new JwtVerifier({
    hs256Secret: auth.jwtSecret,
    jwksUrl: auth.jwksUrl,
    issuer: auth.issuer,
    audience,
    otherPlaneAudience: audience ? otherPlaneAudience : undefined,
    plane,
  });
}
