import { isUtf8 } from 'node:buffer';
import { HttpException } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { answerClientErrorsWithProblems } from './client-errors';
import { problem, type ProblemDetails } from './problem-details';

const JSON_TYPES = ['application/json', 'application/*+json'];
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Options of {@link configureJsonHttp}. */
export interface JsonHttpOptions {
  /** The largest request body accepted, in bytes; a larger one is answered 413. No default. */
  bodyLimitBytes: number;
}

/**
 * The HTTP layer every Silo app gets (main and tests alike): JSON bodies only (another media
 * type → 415), at most `bodyLimitBytes` (→ 413), valid UTF-8 (→ 400), parse errors answered in
 * our words since the parser's messages may quote the body; requests Node's parser refuses
 * (oversized headers → 431, malformed → 400) answered with problem+json too; no `X-Powered-By`.
 * The app must be created with `bodyParser: false` so that no other parser (urlencoded) runs.
 */
export function configureJsonHttp(app: NestExpressApplication, options: JsonHttpOptions): void {
  answerClientErrorsWithProblems(app.getHttpServer());
  app.disable('x-powered-by');
  app.use(requireJsonBody);
  app.use(jsonBody(options.bodyLimitBytes));
}

function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const hasBody =
    Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!BODY_METHODS.has(req.method) || !hasBody || req.is(JSON_TYPES)) return next();
  next(
    new HttpException(
      problem(
        415,
        `Bodies must be application/json (got ${JSON.stringify(req.headers['content-type'] ?? 'none')}).`,
      ),
      415,
    ),
  );
}

function jsonBody(limit: number): RequestHandler {
  const parse = express.json({
    limit,
    type: JSON_TYPES,
    strict: true,
    // JSON is UTF-8 (RFC 8259); invalid bytes would otherwise be stored as U+FFFD.
    verify: (_req, _res, buf) => {
      if (!isUtf8(buf))
        throw Object.assign(new Error('invalid UTF-8'), { status: 400, type: 'encoding.invalid' });
    },
  });
  return (req, res, next) =>
    parse(req, res, (error?: unknown) => {
      if (!error) return next();
      const details = bodyProblem(error);
      next(new HttpException(details, details.status));
    });
}

function bodyProblem(error: unknown): ProblemDetails {
  const { status, type } = (error ?? {}) as { status?: unknown; type?: unknown };
  switch (type) {
    case 'entity.too.large':
      return problem(413, 'The request body is larger than this API accepts.');
    case 'entity.parse.failed':
      return problem(400, 'The request body is not valid JSON (a JSON object is expected).');
    case 'encoding.invalid':
      return problem(400, 'The request body is not valid UTF-8.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return problem(415, 'The request body must be UTF-8 JSON.');
    default:
      return problem(
        typeof status === 'number' && status >= 400 && status < 500 ? status : 400,
        'The request body could not be read.',
      );
  }
}
