import { HOST_STATUSES, type HostStatus } from '@silo/control-plane-db';
import { TIER_NAMES, type SharedPlacement, type TierName } from '@silo/core';
import type { HostCursor } from '@silo/fleet';
import { z } from 'zod';
import { commaList, cursorParam, pageLimitParam } from '../http/query-params';

export const SHARED_PLACEMENTS: readonly SharedPlacement[] = ['schema', 'pool'];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The `{id}` of a host route: a UUID, or 400 naming `path.id`. */
export const hostIdParam = z.string().regex(UUID, 'must be a UUID');

const CURSOR = /^h1\.(\d{1,19})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
/** The latest instant a JavaScript Date holds (year 275760), in µs since the epoch. */
const LATEST_MICROS = 8_640_000_000_000_000_000n;

export function encodeHostCursor(cursor: HostCursor): string {
  return Buffer.from(`h1.${cursor.createdAtMicros}.${cursor.id}`).toString('base64url');
}

function decodeHostCursor(value: string): HostCursor | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(value)) return null;
  const match = CURSOR.exec(Buffer.from(value, 'base64url').toString('latin1'));
  if (!match) return null;
  const createdAtMicros = BigInt(match[1]);
  if (createdAtMicros > LATEST_MICROS) return null;
  return { createdAtMicros, id: match[2] };
}

/** GET /v1/hosts query. Every parameter appears at most once; unknown ones are refused. */
export const listHostsQuery = z.strictObject({
  placement: commaList<SharedPlacement>(SHARED_PLACEMENTS, 'placement'),
  tier: commaList<TierName>(TIER_NAMES, 'tier'),
  status: commaList<HostStatus>(HOST_STATUSES, 'status'),
  limit: pageLimitParam(200),
  cursor: cursorParam(decodeHostCursor),
});
