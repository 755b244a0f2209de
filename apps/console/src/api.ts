import type { z } from 'zod';
import type { fleetAlarmList } from '../../control-plane-api/src/alarms/alarms.responses';
import type {
  orphanList,
  reconciliationResource,
} from '../../control-plane-api/src/reconcile/reconcile.responses';
import type {
  rolloutList,
  rolloutResource,
  schemaVersionsResource,
} from '../../control-plane-api/src/rollouts/rollout.responses';
import type {
  tenantAlarmList,
  tenantEventList,
  tenantList,
  tenantResource,
  tierList,
} from '../../control-plane-api/src/tenants/tenant.responses';

// The types of the API's bodies are the zod schemas the OpenAPI document is generated from, so
// the console and /docs-json cannot disagree.
export type Tenant = z.output<typeof tenantResource>;
export type TenantList = z.output<typeof tenantList>;
export type TenantEvents = z.output<typeof tenantEventList>;
export type TenantAlarms = z.output<typeof tenantAlarmList>;
export type Tiers = z.output<typeof tierList>;
export type FleetAlarms = z.output<typeof fleetAlarmList>;
export type Rollout = z.output<typeof rolloutResource>;
export type Rollouts = z.output<typeof rolloutList>;
export type SchemaVersions = z.output<typeof schemaVersionsResource>;
export type Reconciliation = z.output<typeof reconciliationResource>;
export type Orphans = z.output<typeof orphanList>;

/** A refusal as the API states it (problem+json): the detail is shown as is. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
  ) {
    super(detail ?? title);
  }
}

export type Api = <T>(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<T>;

/** Calls the API with the session's token; a 401 ends the session (back to sign-in). */
export function apiWith(token: string, onUnauthorized: () => void): Api {
  return async <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      if (res.status === 401) onUnauthorized();
      const p = (parsed ?? {}) as { title?: string; detail?: string };
      throw new Problem(res.status, p.title ?? `HTTP ${res.status}`, p.detail);
    }
    return parsed as T;
  };
}
