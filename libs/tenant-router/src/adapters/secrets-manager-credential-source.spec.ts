import type { TenantDirectoryEntry } from '../tenant-router.types';
import { SecretsManagerCredentialSource, TenantSecretError } from './secrets-manager-credential-source';

const tenant: TenantDirectoryEntry = {
  id: '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f',
  slug: 'acme',
  tier: 'pro',
  status: 'ACTIVE',
  schemaVersion: 'TenantNotes1795400000000',
  placement: { kind: 'instance' },
  region: null,
  routeVersion: 1,
  writesPaused: false,
};
const PASSWORD = 'Zx9-very-secret-password-value';
const good = {
  engine: 'postgres',
  host: 'db.local',
  port: 5432,
  dbname: 'silo-acme',
  username: 'silo_acme_app',
  password: PASSWORD,
};

/** A reader of one secret value that records every read as [name, region]. */
function source(value: Record<string, unknown> | null) {
  const read = jest.fn((_name: string, _region: string | null) => Promise.resolve(value as never));
  const inRegion = (region: string) => ({ read: (name: string) => read(name, region) });
  return {
    read,
    credentials: new SecretsManagerCredentialSource(
      { read: (name) => read(name, null), inRegion },
      'silo-stg',
    ),
  };
}

describe('SecretsManagerCredentialSource', () => {
  it('reads the tenant’s app secret by its derived name', async () => {
    const { read, credentials } = source(good);
    await expect(credentials.fetch(tenant)).resolves.toEqual({
      host: 'db.local',
      port: 5432,
      dbname: 'silo-acme',
      username: 'silo_acme_app',
      password: PASSWORD,
    });
    expect(read).toHaveBeenCalledWith('silo-stg/acme/app', null);
  });

  it('reads a tenant’s secret, and its pool host’s, in the tenant’s region under the same names', async () => {
    const { read, credentials } = source(good);
    await credentials.fetch({ ...tenant, region: 'eu-central-1' });
    await credentials.fetch({
      ...tenant,
      region: 'eu-central-1',
      placement: { kind: 'pool', hostId: 'h', hostName: 'pool-starter-001' },
    });
    expect(read.mock.calls).toEqual([
      ['silo-stg/acme/app', 'eu-central-1'],
      ['silo-stg/hosts/pool-starter-001/pool-app', 'eu-central-1'],
    ]);
    await expect(source(null).credentials.fetch({ ...tenant, region: 'eu-central-1' })).rejects.toThrow(
      'secret silo-stg/acme/app does not exist in eu-central-1',
    );
  });

  it('reads a schema tenant’s own app secret, and a pooled tenant’s host pool secret', async () => {
    const { read, credentials } = source(good);
    await credentials.fetch({ ...tenant, placement: { kind: 'schema', schema: 'silo_stg_acme' } });
    await credentials.fetch({
      ...tenant,
      placement: {
        kind: 'pool',
        hostId: '7d1f3a0e-2b4c-4e5f-8a9b-0c1d2e3f4a5b',
        hostName: 'pool-starter-001',
      },
    });
    expect(read.mock.calls).toEqual([
      ['silo-stg/acme/app', null],
      ['silo-stg/hosts/pool-starter-001/pool-app', null],
    ]);
  });

  it('refuses a pooled tenant without a usable host name, or not placed yet, without reading anything', async () => {
    const { read, credentials } = source(good);
    await expect(
      credentials.fetch({ ...tenant, placement: { kind: 'pool', hostId: 'h', hostName: '../master' } }),
    ).rejects.toThrow(TenantSecretError);
    await expect(credentials.fetch({ ...tenant, placement: null })).rejects.toThrow(
      /not placed on a host yet/,
    );
    expect(read).not.toHaveBeenCalled();
  });

  it('takes a port written as a string', async () => {
    await expect(source({ ...good, port: '6432' }).credentials.fetch(tenant)).resolves.toMatchObject({
      port: 6432,
    });
  });

  it('names a secret that does not exist', async () => {
    await expect(source(null).credentials.fetch(tenant)).rejects.toThrow(
      new TenantSecretError('secret silo-stg/acme/app does not exist'),
    );
  });

  it('names every missing or malformed field', async () => {
    const { password: _p, host: _h, ...rest } = good;
    await expect(source({ ...rest, port: 'x', dbname: '' }).credentials.fetch(tenant)).rejects.toThrow(
      'secret silo-stg/acme/app is unusable: host is missing, dbname is not a non-empty string, password is missing, port is not a port number',
    );
  });

  it('never puts the password in an error message', async () => {
    for (const broken of [
      { ...good, host: undefined },
      { ...good, port: PASSWORD },
      { ...good, username: 7 },
    ]) {
      const error = await source(broken)
        .credentials.fetch(tenant)
        .catch((e: Error) => e);
      expect(error).toBeInstanceOf(TenantSecretError);
      expect((error as Error).message).not.toContain(PASSWORD);
    }
  });
});

describe('SecretsManagerCredentialSource restore copies', () => {
  const copy = {
    tenantId: tenant.id,
    run: 4,
    status: 'AVAILABLE' as const,
    region: null,
    readerSecretName: 'silo-stg/restore-acme-4/app',
    expiresAt: new Date('2026-12-10T10:00:00Z'),
  };
  const reader = {
    ...good,
    username: 'silo_acme_app_reader_4',
    dbname: 'silo-acme',
    dbInstanceIdentifier: 'x',
  };

  it('reads the copy’s reader secret, in the copy’s region', async () => {
    const { read, credentials } = source(reader);
    await expect(credentials.fetchRestoreCopy(tenant, copy)).resolves.toMatchObject({
      username: 'silo_acme_app_reader_4',
    });
    await credentials.fetchRestoreCopy(tenant, { ...copy, region: 'eu-central-1' });
    expect(read.mock.calls).toEqual([
      ['silo-stg/restore-acme-4/app', null],
      ['silo-stg/restore-acme-4/app', 'eu-central-1'],
    ]);
  });

  it('refuses a reader secret name that is not the copy’s own (the tenant’s app secret, another run’s), reading nothing', async () => {
    const { read, credentials } = source(reader);
    for (const readerSecretName of [
      'silo-stg/acme/app',
      'silo-stg/restore-acme-5/app',
      'silo-stg/restore-beta-4/app',
    ])
      await expect(credentials.fetchRestoreCopy(tenant, { ...copy, readerSecretName })).rejects.toThrow(
        TenantSecretError,
      );
    await expect(
      credentials.fetchRestoreCopy(tenant, { ...copy, tenantId: '9c1a1f0e-1111-4a2b-8c3d-000000000001' }),
    ).rejects.toThrow(/not silo-stg\/restore-acme-4\/app/);
    expect(read).not.toHaveBeenCalled();
  });

  it('says a missing reader secret is missing, naming its region', async () => {
    await expect(
      source(null).credentials.fetchRestoreCopy(tenant, { ...copy, region: 'eu-central-1' }),
    ).rejects.toThrow('secret silo-stg/restore-acme-4/app does not exist in eu-central-1');
  });
});
