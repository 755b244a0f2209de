import { isUtf8 } from 'node:buffer';
import { HttpException } from '@nestjs/common';
import { problem } from '@silo/tenant-router';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

/**
 * A note is at most 10,000 characters; as JSON with every character escaped (`\ud83d\ude00`
 * is 12 bytes for one emoji) that stays under 128 KiB.
 */
export const BODY_LIMIT_BYTES = 131_072;

const JSON_TYPES = ['application/json', 'application/*+json'];
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * JSON bodies only (another media type → 415), at most {@link BODY_LIMIT_BYTES} (→ 413), valid
 * UTF-8; parse errors answered in our words, since the parser's messages may quote the body.
 * The app must be created with `bodyParser: false`.
 */
export function jsonBodies(): RequestHandler[] {
  const parse = express.json({
    limit: BODY_LIMIT_BYTES,
    type: JSON_TYPES,
    strict: true,
    verify: (_req, _res, buf) => {
      if (!isUtf8(buf))
        throw Object.assign(new Error('invalid UTF-8'), { status: 400, type: 'encoding.invalid' });
    },
  });
  const requireJson = (req: Request, _res: Response, next: NextFunction): void => {
    const hasBody =
      Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (!BODY_METHODS.has(req.method) || !hasBody || req.is(JSON_TYPES)) return next();
    next(new HttpException(problem(415, 'Bodies must be application/json.'), 415));
  };
  const parseJson: RequestHandler = (req, res, next) =>
    parse(req, res, (error?: unknown) => {
      if (!error) return next();
      const { type } = (error ?? {}) as { type?: unknown };
      const [status, detail] =
        type === 'entity.too.large'
          ? [413, 'The request body is larger than this app accepts.']
          : type === 'encoding.unsupported' || type === 'charset.unsupported'
            ? [415, 'The request body must be UTF-8 JSON.']
            : [400, 'The request body is not valid JSON.'];
      next(new HttpException(problem(status, detail), status));
    });
  return [requireJson, parseJson];
}
