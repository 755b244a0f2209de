export { mintDevToken, type DevTokenOptions } from './dev-token';
export { bearerToken, JwtVerifier, type JwtVerifierOptions } from './jwt-verifier';
export { AuthError, AuthErrorCode, ROLES, type Principal, type Role } from './principal';
