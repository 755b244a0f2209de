import { CONTROL_PLANE_NAMESPACE } from '../provisioning/control-plane-names';
import { TenantError, TenantErrorCode } from './tenant.errors';

/** `^[a-z][a-z0-9-]{1,30}[a-z0-9]$` without `--`: a valid RDS identifier part, DNS label and SQL name. */
export const TENANT_SLUG_PATTERN = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

/** Why `slug` is not a valid tenant slug, or null when it is. */
export function slugProblem(slug: string): string | null {
  if (!TENANT_SLUG_PATTERN.test(slug)) {
    return 'must be 3-32 characters of a-z, 0-9 and -, start with a letter and end with a letter or digit';
  }
  if (slug.includes('--')) return 'must not contain "--"';
  // `<prefix>-host-…` names shared hosts' instances, secrets and alarms.
  if (slug === 'host' || slug.startsWith('host-'))
    return 'must not begin with "host-" (reserved for shared hosts)';
  // `<prefix>-restore-<slug>-<run>` names a tenant's restore copies (restoreCopyNames).
  if (slug === 'restore' || slug.startsWith('restore-'))
    return 'must not begin with "restore-" (reserved for restore copies)';
  // `<prefix>/control-plane/…` names the control plane's own secrets (the data plane's login).
  if (slug === CONTROL_PLANE_NAMESPACE)
    return `must not be "${CONTROL_PLANE_NAMESPACE}" (reserved for the control plane's own resources)`;
  return null;
}

export function assertTenantSlug(slug: string): string {
  const problem = slugProblem(slug);
  if (problem) throw new TenantError(TenantErrorCode.INVALID_SLUG, `slug ${problem}`);
  return slug;
}
