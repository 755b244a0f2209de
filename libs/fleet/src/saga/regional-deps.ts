import type { StepDeps } from './provisioning-steps';
import type { ProvisioningSettings } from './provisioning-settings';

/** A tenant's or host's region: its own, or the default region for a row made before regions existed. */
export function regionOf(
  row: { region?: string | null },
  settings: Pick<ProvisioningSettings, 'defaultRegion'>,
): string {
  return row.region ?? settings.defaultRegion;
}

/**
 * The sagas' collaborators in `region`: that region's RDS, Secrets Manager, CloudWatch and S3
 * clients, its database backend, and its KMS key, network and alarm topic. A tenant's or host's
 * saga works through these only, so nothing of it is made outside its region. The store, the
 * admin connection and the shared-host places are the control plane's and stay as they are.
 */
export function stepDepsInRegion<D extends StepDeps>(deps: D, region: string): D {
  if (deps.settings.region === region) return deps;
  return {
    ...deps,
    rds: deps.rds.inRegion(region),
    secrets: deps.secrets.inRegion(region),
    alarms: deps.alarms.inRegion(region),
    exports: deps.exports.inRegion ? deps.exports.inRegion(region) : deps.exports,
    host: deps.host.inRegion ? deps.host.inRegion(region) : deps.host,
    settings: deps.settings.inRegion(region),
  };
}

/** The region of the tenant `tenantId` (the deps' own region for an unknown tenant: its saga finds nothing to do). */
export async function tenantRegion(
  deps: Pick<StepDeps, 'store' | 'settings'>,
  tenantId: string,
): Promise<string> {
  const tenant = await deps.store.getTenant(tenantId);
  return tenant ? regionOf(tenant, deps.settings) : deps.settings.region;
}
