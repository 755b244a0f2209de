import { HttpException } from '@nestjs/common';
import { problem } from '@silo/tenant-router';
import type { z } from 'zod';

/**
 * Parses a request body with `schema`, or throws 400 problem+json whose `errors` name every bad
 * field (unknown fields one by one, as "is not a known field").
 */
export function parseBody<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors: { field: string; message: string }[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        errors.push({ field: fieldName([...issue.path, key]), message: 'is not a known field' });
    } else {
      errors.push({ field: fieldName(issue.path), message: issue.message });
    }
  }
  throw new HttpException(
    problem(400, errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors }),
    400,
  );
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.') || 'body';
}
