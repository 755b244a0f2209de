import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TIER_NAMES } from '@silo/core';
import { type z } from 'zod';
import { DEFAULT_TIER_PROFILES } from './default-tier-profiles';
import { type TierProfiles } from './tier-profile';
import { type TierProfilesDocument, tierProfilesSchema } from './tier-profiles.schema';

/** One invalid field: `path` is dotted from the document root, e.g. `tiers.pro.storage.iops`. */
export interface TierProfileProblem {
  path: string;
  message: string;
}

/** Thrown when tier profiles are invalid or unreadable; the message names every problem. */
export class TierProfileError extends Error {
  override readonly name = 'TierProfileError';
  constructor(
    readonly problems: readonly TierProfileProblem[],
    /** The file the profiles came from, when they came from one. */
    readonly file?: string,
  ) {
    super(
      `Invalid tier profiles${file === undefined ? '' : ` in ${file}`} ` +
        `(${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n'),
    );
  }
}

/**
 * Validates a tier profiles document (see `tierProfilesSchema`) and returns one profile per
 * tier, `tier` filled from its key. Throws {@link TierProfileError} naming every problem.
 */
export function parseTierProfiles(raw: unknown): TierProfiles {
  return validate(raw);
}

/**
 * Loads tier profiles from a JSON file, or returns the validated defaults when `file` is
 * undefined. Throws {@link TierProfileError} when the file is missing, unreadable, not JSON or
 * invalid.
 */
export function loadTierProfiles(file?: string): TierProfiles {
  if (file === undefined) return validate(toDocument(DEFAULT_TIER_PROFILES));

  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT' ? 'file does not exist' : `file cannot be read (${code ?? String(error)})`;
    throw new TierProfileError([{ path, message }]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new TierProfileError([{ path, message: `is not valid JSON: ${(error as Error).message}` }]);
  }
  return validate(raw, path);
}

function validate(raw: unknown, file?: string): TierProfiles {
  const result = tierProfilesSchema.safeParse(raw);
  if (!result.success) throw new TierProfileError(problemsOf(result.error.issues, raw), file);
  const { tiers } = result.data;
  return Object.fromEntries(TIER_NAMES.map((tier) => [tier, { tier, ...tiers[tier] }])) as TierProfiles;
}

function problemsOf(issues: readonly z.core.$ZodIssue[], raw: unknown): TierProfileProblem[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: dotted([...issue.path, key]),
        message: 'is not a known field',
      }));
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && valueAt(raw, issue.path) === undefined) message = 'is required';
    // A discriminated union reports a bad or missing `enabled` as no matching option.
    else if (issue.code === 'invalid_union') message = 'must be true or false';
    return [{ path: dotted(issue.path), message }];
  });
}

function dotted(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(document)' : path.map(String).join('.');
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function toDocument(profiles: TierProfiles): TierProfilesDocument {
  const tiers = Object.fromEntries(
    TIER_NAMES.map((name) => {
      const { tier: _tier, ...profile } = profiles[name];
      return [name, profile];
    }),
  );
  return { tiers } as TierProfilesDocument;
}
