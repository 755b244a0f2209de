export const ROLES = ['ops', 'sre', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, from a verified JWT. */
export interface Principal {
  sub: string;
  roles: Role[];
  /** Tenant tokens (the data plane) carry `tenant_id`. */
  tenantId?: string;
}

export enum AuthErrorCode {
  MISSING_TOKEN = 'MISSING_TOKEN',
  INVALID_TOKEN = 'INVALID_TOKEN',
  EXPIRED_TOKEN = 'EXPIRED_TOKEN',
  /** A valid token for the other plane, or carrying the other plane's claims: 403, not 401. */
  WRONG_PLANE = 'WRONG_PLANE',
}

/**
 * Silo's two token audiences: operators call the control plane (`roles`), tenant applications call
 * the data plane (`tenant_id`). Neither accepts the other's tokens or claims.
 */
export type TokenPlane = 'control-plane' | 'data-plane';

/**
 * The token is missing or does not verify (401), or is a valid token for the other plane (403,
 * {@link AuthErrorCode.WRONG_PLANE}). Never carries the token.
 */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The HTTP status that answers it: a token for the other plane is authenticated, not allowed. */
  get status(): 401 | 403 {
    return this.code === AuthErrorCode.WRONG_PLANE ? 403 : 401;
  }

  /** The RFC 6750 `error` of the Bearer challenge that answers it. */
  get bearerError(): 'invalid_request' | 'invalid_token' | 'insufficient_scope' {
    if (this.code === AuthErrorCode.WRONG_PLANE) return 'insufficient_scope';
    return this.code === AuthErrorCode.MISSING_TOKEN ? 'invalid_request' : 'invalid_token';
  }
}
