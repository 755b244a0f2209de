import { SignJWT } from 'jose';
import type { Role } from './principal';

export interface DevTokenOptions {
  secret: string;
  sub: string;
  roles?: Role[];
  tenantId?: string;
  issuer?: string;
  audience?: string;
  /** Seconds. Default 3600. */
  ttlSeconds?: number;
}

/** An HS256 token for the development stack (`npm run token`). */
export async function mintDevToken(options: DevTokenOptions): Promise<string> {
  const jwt = new SignJWT({
    ...(options.roles ? { roles: options.roles } : {}),
    ...(options.tenantId ? { tenant_id: options.tenantId } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds ?? 3600}s`);
  if (options.issuer) jwt.setIssuer(options.issuer);
  if (options.audience) jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
