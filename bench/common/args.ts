import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface FlagsConfig<O extends ParseArgsOptionsConfig> {
  args: string[];
  options: O;
  strict: true;
  allowPositionals: false;
}

type Flags<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<FlagsConfig<O>>>['values'];

/**
 * The command line's flags as `options` declare them: no positionals, unknown flags refused.
 * A malformed command line becomes a {@link UsageError}.
 */
export function parseFlags<O extends ParseArgsOptionsConfig>(argv: string[], options: O): Flags<O> {
  try {
    return parseArgs<FlagsConfig<O>>({ args: argv, strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

export function integer(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got '${value}'`);
  }
  return n;
}

export function decimal(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n < min || n > max) {
    throw new UsageError(`${flag} must be a number from ${min} to ${max}, got '${value}'`);
  }
  return n;
}

export function url(flag: string, value: string, schemes: string[]): string {
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    throw new UsageError(`${flag} is not a URL`);
  }
  if (!schemes.includes(protocol)) {
    throw new UsageError(`${flag} must start with ${schemes.map((s) => `${s}//`).join(' or ')}`);
  }
  return value;
}
