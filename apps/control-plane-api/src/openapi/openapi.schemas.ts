import type { ReferenceObject, SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';
import { fleetAlarmList } from '../alarms/alarms.responses';
import { hostRotationList, hostRotationResource } from '../hosts/host-rotation.responses';
import { hostList, hostResource } from '../hosts/host.responses';
import { deleteOrphansBody } from '../reconcile/reconcile.requests';
import {
  orphanList,
  orphansDeletionQueued,
  reconcileQueued,
  reconciliationResource,
} from '../reconcile/reconcile.responses';
import { skipRolloutTenantBody, startRolloutBody } from '../rollouts/rollout.requests';
import { rolloutList, rolloutResource, schemaVersionsResource } from '../rollouts/rollout.responses';
import { restoreCopyList, restoreCopyResource } from '../tenants/tenant-restore.responses';
import { snapshotList, snapshotRequested } from '../tenants/tenant-snapshot.responses';
import { createTenantBody, moveTenantBody, restoreTenantBody } from '../tenants/tenant.requests';
import {
  tenantAlarmList,
  tenantEventList,
  tenantList,
  tenantResource,
  tierList,
} from '../tenants/tenant.responses';

/** RFC 9457 problem details (`problem()` of @silo/http); extensions such as `tenantStatus` may follow. */
export const problemDetails = z
  .looseObject({
    type: z.string().meta({ example: 'about:blank' }),
    title: z.string().meta({ example: 'Conflict' }),
    status: z.number().int(),
    detail: z.string().optional(),
    errors: z
      .array(z.object({ field: z.string().meta({ example: 'slug' }), message: z.string() }))
      .optional()
      .meta({ description: 'On 400: each field that was refused, and why.' }),
  })
  .meta({ description: 'RFC 9457 problem details (application/problem+json).' });

export const liveness = z.object({ status: z.literal('ok') });

const checkStates = z.record(z.string(), z.looseObject({ status: z.string().meta({ example: 'up' }) }));

export const readiness = z.object({
  status: z.literal('ok'),
  info: checkStates.optional(),
  error: checkStates.optional(),
  details: checkStates,
});

/** The named schemas of the document (`#/components/schemas/<name>`). */
const COMPONENTS = {
  CreateTenantRequest: createTenantBody,
  MoveTenantRequest: moveTenantBody,
  RestoreTenantRequest: restoreTenantBody,
  RestoreCopy: restoreCopyResource,
  RestoreCopyList: restoreCopyList,
  SnapshotList: snapshotList,
  SnapshotRequested: snapshotRequested,
  Tenant: tenantResource,
  TenantList: tenantList,
  TenantEventList: tenantEventList,
  TenantAlarmList: tenantAlarmList,
  TierList: tierList,
  StartRolloutRequest: startRolloutBody,
  SchemaRollout: rolloutResource,
  SchemaRolloutList: rolloutList,
  SkipRolloutTenantRequest: skipRolloutTenantBody,
  SchemaVersions: schemaVersionsResource,
  ReconcileQueued: reconcileQueued,
  Reconciliation: reconciliationResource,
  OrphanList: orphanList,
  FleetAlarmList: fleetAlarmList,
  Host: hostResource,
  HostList: hostList,
  HostRotation: hostRotationResource,
  HostRotationList: hostRotationList,
  DeleteOrphansRequest: deleteOrphansBody,
  OrphansDeletionQueued: orphansDeletionQueued,
  Problem: problemDetails,
  Liveness: liveness,
  Readiness: readiness,
} satisfies Record<string, z.ZodType>;

export type ComponentName = keyof typeof COMPONENTS;

export function schemaRef(name: ComponentName): ReferenceObject {
  return { $ref: `#/components/schemas/${name}` };
}

/**
 * OpenAPI 3.0 schemas of a zod schema, for the *input* side: request schemas keep exactly what
 * zod enforces (a strict object gives `additionalProperties: false`; superRefine rules appear
 * through their `meta`), and response objects stay open to fields added later.
 */
export function openApiSchema(schema: z.ZodType): SchemaObject {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', override: tidy }) as SchemaObject;
}

/** Every named schema, with references between them as `#/components/schemas/<name>`. */
export function componentSchemas(): Record<ComponentName, SchemaObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'openapi-3.0',
    io: 'input',
    uri: (id) => `#/components/schemas/${id}`,
    override: tidy,
  });
  for (const schema of Object.values(schemas)) delete schema.$id;
  return schemas as Record<ComponentName, SchemaObject>;
}

/** `int()` adds the safe-integer range, which says nothing to a reader. */
function tidy({ jsonSchema }: { jsonSchema: Record<string, unknown> }): void {
  if (
    jsonSchema.type === 'integer' &&
    jsonSchema.minimum === Number.MIN_SAFE_INTEGER &&
    jsonSchema.maximum === Number.MAX_SAFE_INTEGER
  ) {
    delete jsonSchema.minimum;
    delete jsonSchema.maximum;
  }
}
