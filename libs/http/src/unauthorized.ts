import { HttpException } from '@nestjs/common';
import { problem } from './problem-details';

/**
 * 401 problem+json naming `detail`, with the RFC 6750 challenge `WWW-Authenticate: Bearer
 * error="…"` set on `res` (an HttpException's body cannot carry headers).
 */
export function bearerUnauthorized(
  res: { setHeader(name: string, value: string): unknown },
  error: 'invalid_request' | 'invalid_token',
  detail: string,
): HttpException {
  res.setHeader('WWW-Authenticate', `Bearer error="${error}"`);
  return new HttpException(problem(401, detail), 401);
}
