import { HttpException } from '@nestjs/common';
import type { z } from 'zod';
import { problem } from './problem-details';

/** Where a value came from, so that error fields read `slug`, `query.limit` or `header.Idempotency-Key`. */
export type InputPart = 'body' | 'query' | 'header';

/**
 * Parses `value` with `schema`, or throws 400 problem+json whose `errors` name every bad field.
 * Unknown fields are reported one by one; body fields are named bare (`slug`), others with their
 * part (`query.limit`).
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  part: InputPart,
  name?: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const prefix = name === undefined ? [] : [name];
  const errors: { field: string; message: string }[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        errors.push({
          field: fieldName(part, [...prefix, ...issue.path, key]),
          message: 'is not a known field',
        });
      }
    } else {
      errors.push({ field: fieldName(part, [...prefix, ...issue.path]), message: issue.message });
    }
  }
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  throw new HttpException(problem(400, detail, { errors }), 400);
}

function fieldName(part: InputPart, path: readonly PropertyKey[]): string {
  const tail = path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.');
  if (part === 'body') return tail || 'body';
  return tail ? `${part}.${tail}` : part;
}
