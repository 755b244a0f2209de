/** The closed set of shared-host error codes; the API maps each to HTTP exhaustively. */
export enum HostErrorCode {
  HOST_NOT_FOUND = 'HOST_NOT_FOUND',
  /** The tenant does not exist, is being deleted, or its placement or tier is not the request's. */
  TENANT_NOT_PLACEABLE = 'TENANT_NOT_PLACEABLE',
  /** A host with tenants placed on it cannot be deleted. */
  HOST_HAS_TENANTS = 'HOST_HAS_TENANTS',
  /** The host's status does not allow what was asked (e.g. deleting one still being created). */
  HOST_BUSY = 'HOST_BUSY',
  /** What was asked does not exist on this host (a schema host has no pool login); `detail.rule` says why. */
  HOST_CHANGE_REFUSED = 'HOST_CHANGE_REFUSED',
}

export class HostError extends Error {
  override readonly name = 'HostError';
  constructor(
    readonly code: HostErrorCode,
    message: string,
    /** Machine-readable facts for the caller (HOST_HAS_TENANTS: `tenantsPlaced`; HOST_CHANGE_REFUSED: `rule`). */
    readonly detail: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}
