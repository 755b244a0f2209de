import type { TenantSecrets } from '@silo/aws';
import { loadConfig } from '@silo/config';
import { hostResourceNames, tenantResourceNames, type Placement } from '@silo/core';
import type { TenantDatabaseEndpoint, TenantDatabaseHost } from '../backends/tenant-database-host';
import type { SharedHosts, SharedHostView } from '../placements/shared-hosts';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import type { StepDeps } from '../saga/provisioning-steps';
import type { TenantRecord } from '../store/provisioning-store';
import { DEFAULT_TIER_PROFILES } from '../tiers';
import { migrateTenantTarget } from './rollout-tenant-migration';

const TENANT_ID = '0f6c1f7e-3a52-4c1b-9a43-7d2f1b9e8c10';
const HOST_ID = '5b0c8a3e-8f0e-4d8e-9c1e-2f1f3a4b5c6d';
const HOST_ENDPOINT: TenantDatabaseEndpoint = {
  host: 'host.internal',
  port: 5432,
  database: 'silo',
  ssl: false,
};
const OWN_ENDPOINT: TenantDatabaseEndpoint = {
  host: 'own.internal',
  port: 5432,
  database: 'silo',
  ssl: false,
};

/** A rollout's view of one tenant: its records, its host and secrets faked, the migrator captured. */
function harness(placement: Placement) {
  const config = loadConfig({
    envFile: false,
    env: {
      DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
      REDIS_URL: 'redis://127.0.0.1:6379',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SILO_ENVIRONMENT: 'test',
      ALARM_ACTIONS: 'none',
    },
  });
  const settings = new ProvisioningSettings(config, DEFAULT_TIER_PROFILES);
  const tier = placement === 'pool' ? 'starter' : placement === 'schema' ? 'pro' : 'enterprise';
  const hostName = placement === 'pool' ? 'pool-starter-001' : 'schema-pro-001';
  const tenant: TenantRecord = {
    id: TENANT_ID,
    slug: 'acme',
    name: 'Acme',
    tier,
    status: 'ACTIVE',
    placement,
    hostId: placement === 'instance' ? null : HOST_ID,
    provisioningRun: 1,
    sagaStartedAt: null,
    failure: null,
    database: {
      instanceIdentifier: placement === 'instance' ? 'silo-acme' : null,
      instanceClass: null,
      engine: null,
      engineVersion: null,
      multiAz: null,
      storageEncrypted: null,
      endpointHost: placement === 'instance' ? OWN_ENDPOINT.host : null,
      endpointPort: placement === 'instance' ? OWN_ENDPOINT.port : null,
      databaseName: null,
      masterSecretArn: null,
      appSecretArn: null,
      schemaVersion: '0001',
    },
  };
  const host: SharedHostView = {
    id: HOST_ID,
    name: hostName,
    placement: placement === 'pool' ? 'pool' : 'schema',
    tier,
    status: 'available',
    instanceIdentifier: `silo-host-${hostName}`,
    endpoint: { host: HOST_ENDPOINT.host, port: HOST_ENDPOINT.port },
    error: null,
    schemaVersion: '0001',
    capacity: { tenants: 50, connectionBudget: 400 },
  };
  const secrets = new Map([
    [hostResourceNames('silo', hostName).masterSecretName, { username: 'host_admin', password: 'host-pw' }],
    [tenantResourceNames('silo', 'acme').masterSecretName, { username: 'acme_admin', password: 'own-pw' }],
  ]);
  const runMigrations = jest.fn((_endpoint: unknown, _owner: unknown, _set: unknown, _options: unknown) =>
    Promise.resolve({ from: '0001', applied: [], schemaVersion: '0002' }),
  );
  const deps = {
    settings,
    admin: { runMigrations },
    secrets: {
      read: jest.fn((name: string) => Promise.resolve(secrets.get(name) ?? null)),
    } as unknown as TenantSecrets,
    hosts: { host: jest.fn(() => Promise.resolve({ ...host })) } as unknown as SharedHosts,
    host: {
      endpointOf: jest.fn(({ identifier }: { identifier: string }) =>
        identifier === host.instanceIdentifier ? HOST_ENDPOINT : OWN_ENDPOINT,
      ),
    } as unknown as TenantDatabaseHost,
  } as unknown as StepDeps;
  return { deps, tenant, host, runMigrations };
}

const rollout = { target: '0002', rolloutId: 'r1', ctx: { actor: 'system:worker', correlationId: 'job' } };

describe('a rollout migrates the target of a tenant’s placement', () => {
  it('an instance tenant: its own database as its own master user, with its tenant set', async () => {
    const { deps, tenant, runMigrations } = harness('instance');
    expect(await migrateTenantTarget(deps, tenant, rollout)).toMatchObject({ poolHostId: null });
    const [endpoint, owner, , options] = runMigrations.mock.calls[0];
    expect(endpoint).toBe(OWN_ENDPOINT);
    expect(owner).toEqual({ username: 'acme_admin', password: 'own-pw' });
    expect(options).toMatchObject({
      target: '0002',
      appliedBy: 'rollout:r1',
      into: { placement: 'instance', schema: 'app', tenantId: TENANT_ID },
    });
  });

  it('a schema tenant: its own schema on its host, as the host’s master user', async () => {
    const { deps, tenant, runMigrations } = harness('schema');
    expect(await migrateTenantTarget(deps, tenant, rollout)).toMatchObject({ poolHostId: null });
    const [endpoint, owner, , options] = runMigrations.mock.calls[0];
    expect(endpoint).toBe(HOST_ENDPOINT);
    expect(owner).toEqual({ username: 'host_admin', password: 'host-pw' });
    expect(options).toMatchObject({
      into: {
        placement: 'schema',
        schema: tenantResourceNames('silo', 'acme').tenantSchema,
        tenantId: TENANT_ID,
      },
    });
  });

  it('a pooled tenant: its host’s pool database, for every tenant of it, with no tenant set', async () => {
    const { deps, tenant, runMigrations } = harness('pool');
    expect(await migrateTenantTarget(deps, tenant, rollout)).toMatchObject({
      poolHostId: HOST_ID,
      result: { schemaVersion: '0002' },
    });
    const [endpoint, owner, , options] = runMigrations.mock.calls[0];
    expect(endpoint).toBe(HOST_ENDPOINT);
    expect(owner).toEqual({ username: 'host_admin', password: 'host-pw' });
    expect(options).toMatchObject({ into: { placement: 'pool', schema: 'app' } });
    expect((options as { into: { tenantId?: string } }).into.tenantId).toBeUndefined();
  });

  it('a shared tenant whose host is not available is not migrated', async () => {
    const { deps, tenant, host, runMigrations } = harness('pool');
    (deps.hosts.host as jest.Mock).mockResolvedValue({ ...host, status: 'deleting' });
    await expect(migrateTenantTarget(deps, tenant, rollout)).rejects.toThrow(/is deleting, not available/);
    expect(runMigrations).not.toHaveBeenCalled();
  });
});
