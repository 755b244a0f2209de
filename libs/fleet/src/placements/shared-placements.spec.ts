import { loadConfig } from '@silo/config';
import type { SecretJson, TenantSecrets } from '@silo/aws';
import { hostResourceNames, tenantResourceNames } from '@silo/core';
import pino from 'pino';
import type { TenantDatabaseEndpoint, TenantDatabaseHost } from '../backends/tenant-database-host';
import { DeprovisioningSaga } from '../saga/deprovisioning-saga';
import { ProvisioningSaga, type SagaOutcome } from '../saga/provisioning-saga';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import type { StepDeps } from '../saga/provisioning-steps';
import { InMemoryProvisioningStore } from '../testing/in-memory-provisioning-store';
import { DEFAULT_TIER_PROFILES } from '../tiers';
import type { SharedHosts, SharedHostView } from './shared-hosts';

const CTX = { actor: 'system:worker', correlationId: 'job-1' };
const HOST_ENDPOINT: TenantDatabaseEndpoint = {
  host: 'host.internal',
  port: 5432,
  database: 'silo',
  ssl: false,
};

/** The shared placements' steps with their collaborators faked: hosts, secrets, the database admin, S3. */
function harness(placement: 'schema' | 'pool') {
  const config = loadConfig({
    envFile: false,
    env: {
      DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
      REDIS_URL: 'redis://127.0.0.1:6379',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SILO_ENVIRONMENT: 'test',
      STEP_MAX_ATTEMPTS: '3',
      ALARM_ACTIONS: 'none',
    },
  });
  // The default profiles: starter pooled, pro a schema each.
  const settings = new ProvisioningSettings(config, DEFAULT_TIER_PROFILES);
  const store = new InMemoryProvisioningStore();
  const calls: string[] = [];
  const hostName = placement === 'pool' ? 'pool-starter-001' : 'schema-pro-001';
  const hostRecord: SharedHostView = {
    id: '5b0c8a3e-8f0e-4d8e-9c1e-2f1f3a4b5c6d',
    name: hostName,
    placement,
    tier: placement === 'pool' ? 'starter' : 'pro',
    capacity: { tenants: 50, connectionBudget: 400 },
    status: 'creating',
    instanceIdentifier: `silo-host-${hostName}`,
    endpoint: null,
    error: null,
    schemaVersion: placement === 'pool' ? '0002' : null,
  };
  const secretValues = new Map<string, SecretJson>([
    [
      hostResourceNames('silo', hostName).masterSecretName,
      { username: 'host_admin', password: 'host-password' },
    ],
  ]);
  const secrets = {
    create: jest.fn((name: string, value: SecretJson) => {
      calls.push(`secret.create ${name}`);
      const created = !secretValues.has(name);
      if (created) secretValues.set(name, value);
      return Promise.resolve({ arn: `arn:${name}`, created });
    }),
    read: jest.fn((name: string) => Promise.resolve(secretValues.get(name) ?? null)),
    delete: jest.fn((name: string) => {
      calls.push(`secret.delete ${name}`);
      secretValues.delete(name);
      return Promise.resolve();
    }),
  };
  const hosts: SharedHosts = {
    place: jest.fn((tenantId: string) => {
      calls.push('place');
      store.tenants.get(tenantId)!.hostId = hostRecord.id;
      return Promise.resolve({ host: hostRecord, hostCreated: false });
    }),
    host: jest.fn(() => Promise.resolve({ ...hostRecord })),
    release: jest.fn((tenantId: string) => {
      calls.push('release');
      store.tenants.get(tenantId)!.hostId = null;
      return Promise.resolve();
    }),
  };
  const admin = {
    bootstrapAppRole: jest.fn(() => {
      calls.push('bootstrapAppRole');
      return Promise.resolve({ revokedMemberships: [] });
    }),
    runMigrations: jest.fn(() => {
      calls.push('runMigrations');
      return Promise.resolve({ from: null, applied: [], schemaVersion: '0002' });
    }),
    dropTenantSchema: jest.fn(() => {
      calls.push('dropTenantSchema');
      return Promise.resolve({ schemaDropped: true, ledgerDropped: true, rolesDropped: [] });
    }),
    deleteTenantRows: jest.fn(() => {
      calls.push('deleteTenantRows');
      return Promise.resolve({ rows: { notes: 2 }, batches: 1 });
    }),
    dumpTenantSchema: jest.fn(() => 'dump-stream'),
    exportTenantRows: jest.fn(() => 'rows-stream'),
  };
  const exports = {
    put: jest.fn((key: string) => {
      calls.push(`export ${key}`);
      return Promise.resolve({ bucket: 'silo-exports', key, bytes: 10, encryption: 'AES256' as const });
    }),
  };
  const backend = {
    kind: 'rds' as const,
    start: jest.fn(),
    endpointOf: jest.fn(() => HOST_ENDPOINT),
    remove: jest.fn(),
    setMasterPassword: jest.fn(),
    replicationLogin: jest.fn(() => null),
    restore: jest.fn(() => Promise.resolve(HOST_ENDPOINT)),
    snapshot: jest.fn(() => Promise.resolve()),
    rename: jest.fn(() => Promise.resolve()),
    handOver: jest.fn(() => Promise.resolve()),
  } satisfies TenantDatabaseHost;
  const deps = {
    store,
    settings,
    secrets: secrets as unknown as TenantSecrets,
    hosts,
    admin,
    exports,
    host: backend,
    // An instance's collaborators: a shared tenant must never reach them.
    rds: new Proxy({}, { get: () => () => Promise.reject(new Error('RDS called for a shared tenant')) }),
    alarms: new Proxy(
      {},
      { get: () => () => Promise.reject(new Error('CloudWatch called for a shared tenant')) },
    ),
  } as unknown as StepDeps;
  const log = pino({ level: 'silent' });
  let clock = new Date('2026-11-22T12:00:00Z').getTime();
  const now = () => new Date(clock);
  async function drive(saga: { run: (id: string, ctx: typeof CTX) => Promise<SagaOutcome> }, id: string) {
    for (let pass = 0; pass < 50; pass++) {
      const outcome = await saga.run(id, CTX);
      if (outcome.kind === 'finished') return outcome.status;
      clock += outcome.delayMs;
      // The host saga finishes while the tenant waits.
      if (pass === 2) Object.assign(hostRecord, { status: 'available', endpoint: { host: 'h', port: 5432 } });
    }
    throw new Error('saga did not settle');
  }
  const tenant = store.addTenant({
    slug: 'shared',
    tier: placement === 'pool' ? 'starter' : 'pro',
    placement,
  });
  return {
    store,
    calls,
    hostRecord,
    admin,
    exports,
    secretValues,
    tenant,
    provision: () => drive(new ProvisioningSaga(deps, log, now), tenant.id),
    deprovision: () => drive(new DeprovisioningSaga(deps, log, now), tenant.id),
  };
}

describe('schema placement', () => {
  it('places the tenant, waits for its host, writes the app secret with the host endpoint before the role, migrates its schema, activates', async () => {
    const h = harness('schema');
    expect(await h.provision()).toBe('ACTIVE');
    const names = tenantResourceNames('silo', 'shared');
    expect(h.calls).toEqual([
      'place',
      `secret.create ${names.appSecretName}`,
      'bootstrapAppRole',
      'runMigrations',
    ]);
    expect(h.store.stepStatuses(h.tenant.id)).toEqual({
      place: 'done',
      'wait-host': 'done',
      'bootstrap-database': 'done',
      'run-migrations': 'done',
      activate: 'done',
    });
    expect(h.secretValues.get(names.appSecretName)).toEqual({
      engine: 'postgres',
      host: 'host.internal',
      port: 5432,
      dbname: 'silo',
      dbInstanceIdentifier: 'silo-host-schema-pro-001',
      username: 'silo_shared_app_a',
      password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
    });
    expect(h.admin.bootstrapAppRole).toHaveBeenCalledWith(
      HOST_ENDPOINT,
      { username: 'host_admin', password: 'host-password' },
      expect.objectContaining({
        role: 'silo_shared_app',
        login: 'silo_shared_app_a',
        schema: 'silo_shared',
        tenantId: h.tenant.id,
        // An even share of the host's budget: 400 connections for 50 tenants.
        connectionLimit: 8,
      }),
    );
    expect(h.admin.runMigrations).toHaveBeenCalledWith(
      HOST_ENDPOINT,
      expect.anything(),
      expect.anything(),
      expect.objectContaining({
        into: { placement: 'schema', schema: 'silo_shared', tenantId: h.tenant.id },
      }),
    );
    expect((await h.store.getTenant(h.tenant.id))?.database.schemaVersion).toBe('0002');
  });

  it('fails when its host fails, and gives the place back', async () => {
    const h = harness('schema');
    h.hostRecord.status = 'failed';
    h.hostRecord.error = { code: 'AWS_REJECTED', message: 'no capacity' };
    expect(await h.provision()).toBe('FAILED');
    expect(h.store.tenants.get(h.tenant.id)).toMatchObject({
      hostId: null,
      failure: { step: 'wait-host', code: 'INSTANCE_TERMINAL_STATE' },
    });
    expect(h.calls).toEqual(['place', 'release']);
  });

  it('compensates a failed migration: schema and roles dropped, app secret deleted, place released, newest first', async () => {
    const h = harness('schema');
    h.admin.runMigrations.mockRejectedValue(
      new (await import('@silo/tenant-schema')).TenantMigrationError('MIGRATION_FAILED', 'boom', {
        reached: null,
      }),
    );
    expect(await h.provision()).toBe('FAILED');
    const names = tenantResourceNames('silo', 'shared');
    expect(h.calls.slice(h.calls.indexOf('dropTenantSchema'))).toEqual([
      'dropTenantSchema',
      `secret.delete ${names.appSecretName}`,
      'release',
    ]);
    expect(h.admin.dropTenantSchema).toHaveBeenCalledWith(HOST_ENDPOINT, expect.anything(), {
      schema: 'silo_shared',
      role: 'silo_shared_app',
    });
  });

  it('deprovisions: the schema exported first, then dropped, the app secret scheduled for deletion, DELETED releasing the place', async () => {
    const h = harness('schema');
    Object.assign(h.hostRecord, { status: 'available', endpoint: { host: 'h', port: 5432 } });
    expect(await h.provision()).toBe('ACTIVE');
    h.calls.length = 0;
    const record = h.store.tenants.get(h.tenant.id)!;
    record.status = 'DEPROVISIONING';
    record.sagaStartedAt = new Date('2026-11-23T01:02:03Z');
    expect(await h.deprovision()).toBe('DELETED');
    expect(h.calls).toEqual([
      'export silo/exports/shared/20261123-010203.dump',
      'dropTenantSchema',
      'secret.delete silo/shared/app',
    ]);
    expect(h.exports.put).toHaveBeenCalledWith('silo/exports/shared/20261123-010203.dump', 'dump-stream', {
      kind: 'schema-dump',
      kmsKeyId: undefined,
      tags: expect.objectContaining({ 'silo:tenant-id': h.tenant.id }),
      retainUntil: new Date('2026-12-28T01:02:03Z'),
    });
    expect(h.store.releasedPlaces).toEqual([h.tenant.id]);
  });
});

describe('pool placement', () => {
  it('places the tenant, waits for its host and activates at the host’s pool schema version, with no secret, role or migration', async () => {
    const h = harness('pool');
    expect(await h.provision()).toBe('ACTIVE');
    expect(h.calls).toEqual(['place']);
    expect(Object.keys(h.store.stepStatuses(h.tenant.id))).toEqual(['place', 'wait-host', 'activate']);
    expect((await h.store.getTenant(h.tenant.id))?.database).toMatchObject({
      schemaVersion: '0002',
      appSecretArn: null,
    });
  });

  it('deprovisions: the tenant’s rows exported, then deleted, DELETED releasing the place', async () => {
    const h = harness('pool');
    Object.assign(h.hostRecord, { status: 'available', endpoint: { host: 'h', port: 5432 } });
    expect(await h.provision()).toBe('ACTIVE');
    h.calls.length = 0;
    const record = h.store.tenants.get(h.tenant.id)!;
    record.status = 'DEPROVISIONING';
    record.sagaStartedAt = new Date('2026-11-23T01:02:03Z');
    expect(await h.deprovision()).toBe('DELETED');
    expect(h.calls).toEqual(['export silo/exports/shared/20261123-010203.ndjson', 'deleteTenantRows']);
    expect(h.admin.deleteTenantRows).toHaveBeenCalledWith(HOST_ENDPOINT, expect.anything(), {
      tenantId: h.tenant.id,
    });
    expect(h.store.releasedPlaces).toEqual([h.tenant.id]);
  });
});
