import { ControlPlaneTenantDirectory } from './control-plane-tenant-directory';

const ID = '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f';

function directory(rows: unknown[]) {
  const query = jest.fn((_sql: string, _params?: unknown[]) => Promise.resolve(rows));
  return { query, directory: new ControlPlaneTenantDirectory({ query } as never) };
}

describe('ControlPlaneTenantDirectory', () => {
  it('reads id, slug, tier, status and schema version of the tenant with that id', async () => {
    const { query, directory: tenants } = directory([
      { id: ID, slug: 'acme', tier: 'pro', status: 'SUSPENDED', schema_version: '0003' },
    ]);
    await expect(tenants.find(ID)).resolves.toEqual({
      id: ID,
      slug: 'acme',
      tier: 'pro',
      status: 'SUSPENDED',
      schemaVersion: '0003',
    });
    expect(query).toHaveBeenCalledWith(
      'SELECT id, slug, tier, status, schema_version FROM tenants WHERE id = $1',
      [ID],
    );
  });

  it('answers a null schema version for a tenant whose schema is not applied yet', async () => {
    const { directory: tenants } = directory([
      { id: ID, slug: 'acme', tier: 'pro', status: 'PROVISIONING', schema_version: null },
    ]);
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

  it('refuses a status or tier this build does not know rather than guess', async () => {
    await expect(
      directory([{ id: ID, slug: 'acme', tier: 'pro', status: 'ARCHIVED' }]).directory.find(ID),
    ).rejects.toThrow(/status ARCHIVED/);
    await expect(
      directory([{ id: ID, slug: 'acme', tier: 'gold', status: 'ACTIVE' }]).directory.find(ID),
    ).rejects.toThrow(/tier gold/);
  });
});
