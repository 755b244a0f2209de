import { z } from 'zod';

/** A `limit` query parameter: a whole number from 1 to `max`, given as decimal digits. */
export function pageLimitParam(max: number) {
  return z
    .string()
    .regex(new RegExp(`^\\d{1,${String(max).length}}$`), `must be a whole number from 1 to ${max}`)
    .transform(Number)
    .pipe(z.number().min(1, 'must be at least 1').max(max, `must be at most ${max}`))
    .optional();
}
