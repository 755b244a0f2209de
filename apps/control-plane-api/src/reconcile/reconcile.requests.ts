import { ORPHAN_TYPES } from '@silo/control-plane-db';
import { z } from 'zod';

/** POST /v1/orphans/delete: the orphans to delete, each as GET /v1/orphans lists it. */
export const deleteOrphansBody = z.strictObject({
  items: z
    .array(
      z.strictObject({
        type: z.enum(ORPHAN_TYPES, { error: `must be one of ${ORPHAN_TYPES.join(', ')}` }),
        // AWS names (and ARNs) of instances, secrets, alarms and snapshots are printable ASCII.
        name: z
          .string()
          .min(1, 'must not be empty')
          .max(512, 'must be at most 512 characters')
          .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces, as AWS names are'),
      }),
      { error: 'must be an array of {type, name}' },
    )
    .min(1, 'must list at least one orphan')
    .max(100, 'must list at most 100 orphans'),
});
