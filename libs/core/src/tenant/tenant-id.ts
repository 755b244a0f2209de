const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` can be a tenant id: a UUID, in either case (PostgreSQL's uuid compares them alike). */
export function isTenantId(value: string): boolean {
  return UUID.test(value);
}
