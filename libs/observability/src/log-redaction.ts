/**
 * Paths pino removes from every log line. Credentials must never reach logs; these catch the
 * usual carriers even when a caller logs an object carelessly.
 */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'password',
  'masterPassword',
  'secretString',
  'SecretString',
  'secretAccessKey',
  '*.password',
  '*.masterPassword',
  '*.secretString',
  '*.SecretString',
  '*.secretAccessKey',
  '*.MasterUserPassword',
];
