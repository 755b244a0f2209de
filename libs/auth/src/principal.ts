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
}

/** The token is missing or does not verify; the API answers 401. Never carries the token. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The RFC 6750 `error` of the Bearer challenge that answers it. */
  get bearerError(): 'invalid_request' | 'invalid_token' {
    return this.code === AuthErrorCode.MISSING_TOKEN ? 'invalid_request' : 'invalid_token';
  }
}
