import { HttpException } from '@nestjs/common';
import { problem } from './problem-details';

/**
 * 401 problem+json naming `detail`, with the RFC 6750 challenge `WWW-Authenticate: Bearer
 * error="…"` set on `res` (an HttpException's body cannot carry headers). `insufficient_scope`
 * answers 403: the token is valid, but not for this service.
 */
export function bearerUnauthorized(
  res: { setHeader(name: string, value: string): unknown },
  error: 'invalid_request' | 'invalid_token' | 'insufficient_scope',
  detail: string,
): HttpException {
  res.setHeader('WWW-Authenticate', `Bearer error="${error}"`);
  const status = error === 'insufficient_scope' ? 403 : 401;
  return new HttpException(problem(status, detail), status);
}
