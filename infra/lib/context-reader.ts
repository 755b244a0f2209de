/** Typed reads of CDK context, each error naming the key. Empty values count as unset. */
export interface ContextReader {
  text: (key: string) => string | undefined;
  flag: (key: string) => boolean;
  list: (key: string) => string[] | undefined;
  /** An integer (cdk.json numbers and `-c key=3` strings alike). */
  integer: (key: string) => number | undefined;
}

export function contextReader(get: (key: string) => unknown): ContextReader {
  const unset = (value: unknown) => value === undefined || value === null || value === '';
  return {
    text: (key) => {
      const value = get(key);
      if (unset(value)) return undefined;
      if (typeof value !== 'string') throw new Error(`context ${key} must be a string`);
      return value.trim() || undefined;
    },
    flag: (key) => {
      const value = get(key);
      if (unset(value)) return false;
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      throw new Error(`context ${key} must be true or false`);
    },
    list: (key) => {
      const value = get(key);
      if (unset(value)) return undefined;
      const items: unknown[] = Array.isArray(value)
        ? value
        : typeof value === 'string'
          ? value.split(',')
          : [value];
      const listed = items
        .map((item) => {
          if (typeof item !== 'string') throw new Error(`context ${key} must be a comma-separated list`);
          return item.trim();
        })
        .filter(Boolean);
      return listed.length ? listed : undefined;
    },
    integer: (key) => {
      const value = get(key);
      if (unset(value)) return undefined;
      const number = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isInteger(number)) {
        throw new Error(`context ${key} must be an integer, got ${JSON.stringify(value)}`);
      }
      return number;
    },
  };
}
