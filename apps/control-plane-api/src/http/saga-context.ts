import type { SagaContext } from '@silo/fleet';
import type { AuthenticatedRequest } from '../auth/auth.guard';

/** Who asked (the JWT sub) and which request it was, for audit trails. */
export function sagaContext(req: AuthenticatedRequest): SagaContext {
  return {
    actor: req.principal?.sub ?? 'unknown',
    correlationId: requestId(req),
  };
}

/** The id pino-http gave the request (echoed as x-request-id). */
function requestId(req: AuthenticatedRequest): string {
  const id = (req as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : '';
}
