import type { TenantRestoreCopyEntity } from '@silo/control-plane-db';
import type { RestoreCopyResource } from './tenant-restore.responses';

/** A restore copy as the API shows it; `defaultRegion` names the region a copy recorded without one is in. */
export function restoreCopyView(c: TenantRestoreCopyEntity, defaultRegion: string): RestoreCopyResource {
  return {
    run: c.run,
    status: c.status,
    source: { ...c.source },
    region: c.region ?? defaultRegion,
    instanceIdentifier: c.instanceIdentifier,
    readerSecretName: c.readerSecretName,
    endpoint:
      c.endpointHost && c.endpointPort && c.databaseName
        ? { host: c.endpointHost, port: c.endpointPort, database: c.databaseName }
        : null,
    createdAt: c.createdAt.toISOString(),
    expiresAt: c.expiresAt.toISOString(),
    removedAt: c.removedAt?.toISOString() ?? null,
  };
}
