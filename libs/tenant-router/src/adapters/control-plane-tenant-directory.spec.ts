import {
  ControlPlaneTenantDirectory,
  RESTORE_COPY_SQL,
  TENANT_DIRECTORY_SQL,
} from './control-plane-tenant-directory';

const ID = '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f';
const HOST_ID = '7d1f3a0e-2b4c-4e5f-8a9b-0c1d2e3f4a5b';

function directory(rows: unknown[]) {
  const query = jest.fn((_sql: string, _params?: unknown[]) => Promise.resolve(rows));
  return { query, directory: new ControlPlaneTenantDirectory({ query } as never, 'silo-stg') };
}

const row = (fields: Record<string, unknown> = {}) => ({
  id: ID,
  slug: 'acme',
  tier: 'pro',
  status: 'ACTIVE',
  schema_version: '0003',
  placement: 'instance',
  host_id: null,
  host_name: null,
  region: null,
  route_version: 1,
  writes_paused: false,
  ...fields,
});

describe('ControlPlaneTenantDirectory', () => {
  it('reads id, slug, tier, status, schema version, placement, host, region, route version and pause of the tenant with that id from the directory view', async () => {
    const { query, directory: tenants } = directory([row({ status: 'SUSPENDED' })]);
    await expect(tenants.find(ID)).resolves.toEqual({
      id: ID,
      slug: 'acme',
      tier: 'pro',
      status: 'SUSPENDED',
      schemaVersion: '0003',
      placement: { kind: 'instance' },
      region: null,
      routeVersion: 1,
      writesPaused: false,
    });
    expect(query).toHaveBeenCalledWith(TENANT_DIRECTORY_SQL, [ID]);
    expect(TENANT_DIRECTORY_SQL).toBe(
      'SELECT id, slug, tier, status, schema_version, placement, host_id, host_name, region, route_version, writes_paused ' +
        'FROM data_plane.tenant_directory WHERE id = $1',
    );
  });

  it('reads a moving tenant’s region, route version and paused writes', async () => {
    const { directory: tenants } = directory([
      row({ region: 'eu-central-1', route_version: 3, writes_paused: true }),
    ]);
    await expect(tenants.find(ID)).resolves.toMatchObject({
      region: 'eu-central-1',
      routeVersion: 3,
      writesPaused: true,
    });
  });

  it('refuses a region that is not a region name and a route version below 1', async () => {
    await expect(directory([row({ region: 'eu central/1' })]).directory.find(ID)).rejects.toThrow(
      /not a region/,
    );
    await expect(directory([row({ route_version: 0 })]).directory.find(ID)).rejects.toThrow(
      /route version 0, not a positive integer/,
    );
  });

  it('gives a schema tenant its derived schema name under the prefix', async () => {
    const { directory: tenants } = directory([
      row({ slug: 'acme-corp', placement: 'schema', host_id: HOST_ID, host_name: 'schema-pro-001' }),
    ]);
    await expect(tenants.find(ID)).resolves.toMatchObject({
      placement: { kind: 'schema', schema: 'silo_stg_acme_corp' },
    });
  });

  it('gives a pooled tenant its host id and name', async () => {
    const { directory: tenants } = directory([
      row({ tier: 'starter', placement: 'pool', host_id: HOST_ID, host_name: 'pool-starter-002' }),
    ]);
    await expect(tenants.find(ID)).resolves.toMatchObject({
      placement: { kind: 'pool', hostId: HOST_ID, hostName: 'pool-starter-002' },
    });
  });

  it('answers a pooled tenant not placed yet with no placement, and refuses an ACTIVE one without a host', async () => {
    await expect(
      directory([row({ status: 'PROVISIONING', placement: 'pool' })]).directory.find(ID),
    ).resolves.toMatchObject({ status: 'PROVISIONING', placement: null });
    await expect(directory([row({ placement: 'pool' })]).directory.find(ID)).rejects.toThrow(
      /pooled and ACTIVE but placed on no host/,
    );
    await expect(
      directory([row({ placement: 'pool', host_id: HOST_ID, host_name: 'not a host' })]).directory.find(ID),
    ).rejects.toThrow(/no valid name/);
  });

  it('answers a null schema version for a tenant whose schema is not applied yet', async () => {
    const { directory: tenants } = directory([row({ status: 'PROVISIONING', schema_version: null })]);
    await expect(tenants.find(ID)).resolves.toMatchObject({ schemaVersion: null });
  });

  it('answers null for an id no tenant has', async () => {
    await expect(directory([]).directory.find(ID)).resolves.toBeNull();
  });

  it('answers null for something that is not a tenant id (a slug), without asking the database', async () => {
    const { query, directory: tenants } = directory([]);
    await expect(tenants.find('acme')).resolves.toBeNull();
    await expect(tenants.find(`${ID}' OR '1'='1`)).resolves.toBeNull();
    expect(query).not.toHaveBeenCalled();
  });

  it('refuses a status, tier or placement this build does not know rather than guess', async () => {
    await expect(directory([row({ status: 'ARCHIVED' })]).directory.find(ID)).rejects.toThrow(
      /status ARCHIVED/,
    );
    await expect(directory([row({ tier: 'gold' })]).directory.find(ID)).rejects.toThrow(/tier gold/);
    await expect(directory([row({ placement: 'region' })]).directory.find(ID)).rejects.toThrow(
      /placement region, unknown here/,
    );
  });
});

describe('ControlPlaneTenantDirectory restore copies', () => {
  const EXPIRES = new Date('2026-12-10T10:00:00.000Z');
  const copyRow = (fields: Record<string, unknown> = {}) => ({
    tenant_id: ID,
    run: 4,
    status: 'AVAILABLE',
    region: null,
    reader_secret_name: 'silo-stg/restore-acme-4/app',
    expires_at: EXPIRES,
    ...fields,
  });

  it('reads the tenant’s copy of one run from the restore copy view', async () => {
    const { query, directory: tenants } = directory([copyRow({ region: 'eu-central-1' })]);
    await expect(tenants.findRestoreCopy(ID, 4)).resolves.toEqual({
      tenantId: ID,
      run: 4,
      status: 'AVAILABLE',
      region: 'eu-central-1',
      readerSecretName: 'silo-stg/restore-acme-4/app',
      expiresAt: EXPIRES,
    });
    expect(query).toHaveBeenCalledWith(RESTORE_COPY_SQL, [ID, 4]);
    expect(RESTORE_COPY_SQL).toBe(
      'SELECT tenant_id, run, status, region, reader_secret_name, expires_at ' +
        'FROM data_plane.tenant_restore_copies WHERE tenant_id = $1 AND run = $2',
    );
  });

  it('answers null for no such copy, and for what is not a tenant id or a run without asking', async () => {
    await expect(directory([]).directory.findRestoreCopy(ID, 4)).resolves.toBeNull();
    const { query, directory: tenants } = directory([copyRow()]);
    await expect(tenants.findRestoreCopy('acme', 4)).resolves.toBeNull();
    for (const run of [0, 1.5, 2 ** 31]) await expect(tenants.findRestoreCopy(ID, run)).resolves.toBeNull();
    expect(query).not.toHaveBeenCalled();
  });

  it('refuses a status, region or expiry this build cannot read rather than guess', async () => {
    await expect(
      directory([copyRow({ status: 'ARCHIVED' })]).directory.findRestoreCopy(ID, 4),
    ).rejects.toThrow(/status ARCHIVED, unknown here/);
    await expect(directory([copyRow({ region: 'mars/1' })]).directory.findRestoreCopy(ID, 4)).rejects.toThrow(
      /not a region/,
    );
    await expect(
      directory([copyRow({ expires_at: 'soon' })]).directory.findRestoreCopy(ID, 4),
    ).rejects.toThrow(/no valid expiry/);
  });
});
