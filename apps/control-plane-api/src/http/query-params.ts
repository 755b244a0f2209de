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

/** A comma-separated list of `allowed` values (form style, explode false); empty is no filter. */
export function commaList<T extends string>(allowed: readonly T[], what: string) {
  return z
    .string()
    .transform((value, ctx) => {
      // Empty: an empty list (form style, explode false), that is no filter.
      if (value === '') return undefined;
      const items = value.split(',');
      const bad = items.filter((item) => !(allowed as readonly string[]).includes(item));
      if (bad.length) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown ${what} ${bad.map((b) => JSON.stringify(b.slice(0, 40))).join(', ')}; expected ${allowed.join(', ')} (comma-separated)`,
        });
        return z.NEVER;
      }
      return [...new Set(items)] as T[];
    })
    .optional();
}

/**
 * An opaque `cursor` query parameter: empty is the first page (as a plain string schema allows);
 * anything `decode` does not recognise as a cursor this API issued is refused.
 */
export function cursorParam<T>(decode: (value: string) => T | null) {
  return z
    .string()
    .transform((value, ctx) => {
      if (value === '') return undefined;
      const cursor = decode(value);
      if (cursor === null) {
        ctx.addIssue({ code: 'custom', message: 'is not a cursor this API issued' });
        return z.NEVER;
      }
      return cursor;
    })
    .optional();
}
