import { HOST_ROTATION_STATUSES, STEP_STATUSES } from '@silo/control-plane-db';
import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';

/** One step of a pool-login rotation (`host_steps` of saga `rotate`). */
const hostRotationStep = z.object({
  name: z.string().meta({ example: 'set-secret' }),
  status: z.enum(STEP_STATUSES),
  attempts: z.number().int(),
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  lastError: z
    .object({ code: z.string(), message: z.string() })
    .nullable()
    .meta({ description: 'The last retryable failure of the step, if any.' }),
});

/** A rotation of a pool host's pool login. Never a password. */
export const hostRotationResource = z.object({
  hostId: z.string().meta({ format: 'uuid' }),
  host: z.string().meta({ example: 'pool-starter-001' }),
  run: z.number().int().meta({ description: 'The host’s rotation number, from 1.' }),
  status: z.enum(HOST_ROTATION_STATUSES),
  login: z
    .object({ from: z.string(), to: z.string() })
    .nullable()
    .meta({ description: 'The pool login the data plane moves from and to; null until create-secret ran.' }),
  requestedBy: z.string().meta({ example: 'system:reconciler' }),
  correlationId: z.string(),
  createdAt: timestamp,
  finishedAt: timestamp.nullable(),
  error: z
    .object({ code: z.string(), message: z.string(), step: z.string().nullable() })
    .nullable()
    .meta({ description: 'Why it failed; the pool login in use keeps working.' }),
  steps: z.array(hostRotationStep).meta({
    description:
      'In order, for the host’s latest rotation; empty for an earlier one (the journal keeps the latest only).',
  }),
});

export const hostRotationList = z.object({
  items: z.array(hostRotationResource).meta({ description: 'Newest first, at most 20.' }),
});
export type HostRotationResource = z.output<typeof hostRotationResource>;
