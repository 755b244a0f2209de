export { mintDevToken, type DevTokenOptions } from './dev-token';
export {
  bearerToken,
  JwtVerifier,
  jwtVerifierFromSettings,
  type AuthSettings,
  type JwtVerifierOptions,
} from './jwt-verifier';
export { AuthError, AuthErrorCode, ROLES, type Principal, type Role, type TokenPlane } from './principal';
