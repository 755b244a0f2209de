import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { environmentSchema } from './config.schema';
import { SiloConfig } from './silo-config';

/** Thrown when the environment is invalid; the message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly { variable: string; message: string }[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n'),
    );
  }
}

export interface LoadConfigOptions {
  /** Variables to validate. Default: `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * A dotenv file read beneath `env` (variables already set win). Default: `$SILO_ENV_FILE`, else
   * `.env` in the working directory when it exists. `false` reads no file.
   */
  envFile?: string | false;
}

/**
 * Validates the whole environment at once. Values are never echoed in errors: some are secrets
 * (AWS keys, passwords inside URLs).
 */
export function loadConfig(options: LoadConfigOptions = {}): SiloConfig {
  const env = options.env ?? process.env;
  const file = options.envFile === undefined ? (env.SILO_ENV_FILE ?? '.env') : options.envFile;
  const fromFile = file
    ? readEnvFile(file, options.envFile !== undefined || env.SILO_ENV_FILE !== undefined)
    : {};

  const merged: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(fromFile)) if (value !== '') merged[key] = value;
  for (const [key, value] of Object.entries(env)) {
    // An empty variable counts as unset, as in most twelve-factor tooling.
    if (value !== undefined && value !== '') merged[key] = value;
  }

  const result = environmentSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => ({
      variable: String(issue.path[0] ?? '(environment)'),
      message:
        issue.code === 'invalid_type' && merged[String(issue.path[0])] === undefined
          ? 'is required but not set'
          : issue.message,
    }));
    problems.sort((a, b) => a.variable.localeCompare(b.variable));
    throw new ConfigError(problems);
  }
  return new SiloConfig(result.data);
}

function readEnvFile(file: string, mustExist: boolean): Record<string, string> {
  const path = resolve(file);
  if (!existsSync(path)) {
    if (mustExist)
      throw new ConfigError([{ variable: 'SILO_ENV_FILE', message: `file ${path} does not exist` }]);
    return {};
  }
  return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
}
