import { setTimeout as delay } from 'node:timers/promises';
import { Client } from 'pg';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { uniqueToken } from '../../../test/support/test-config';
import { ProvisioningError, ProvisioningErrorCode } from '../../core/src';
import { LocalPostgresDatabaseHost } from '../src/backends/local-postgres-database-host';
import type { TenantDatabaseEndpoint } from '../src/backends/tenant-database-host';

jest.setTimeout(120_000);

const token = uniqueToken(3);
const host = new LocalPostgresDatabaseHost(instanceAdminUrl());
const made: Array<{ identifier: string; roles: string[] }> = [];

function instance(name: string) {
  const created = {
    identifier: `rs${token}-${name}`,
    rdsEndpoint: null,
    masterUsername: `rs${token}_${name}_admin`,
    masterPassword: `pw-${uniqueToken(8)}`,
  };
  made.push({ identifier: created.identifier, roles: [created.masterUsername] });
  return created;
}

async function withOwner<T>(
  at: TenantDatabaseEndpoint,
  login: { masterUsername: string; masterPassword: string },
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({
    host: at.host,
    port: at.port,
    database: at.database,
    user: login.masterUsername,
    password: login.masterPassword,
    connectionTimeoutMillis: 3000,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function notes(at: TenantDatabaseEndpoint, login: { masterUsername: string; masterPassword: string }) {
  return withOwner(at, login, async (client) => {
    const { rows } = await client.query<{ text: string }>('SELECT text FROM notes ORDER BY id');
    return rows.map((row) => row.text);
  });
}

async function asAdmin(work: (client: Client) => Promise<unknown>): Promise<void> {
  const admin = new Client({ connectionString: instanceAdminUrl() });
  await admin.connect();
  try {
    await work(admin);
  } finally {
    await admin.end();
  }
}

afterAll(async () => {
  for (const instance of made) await host.remove(instance);
}, 60_000);

describe('LocalPostgresDatabaseHost.restore', () => {
  const source = instance('src');
  const copy = instance('copy');
  let pointInTime: Date;

  beforeAll(async () => {
    const live = await host.start(source);
    await withOwner(live, source, async (client) => {
      await client.query('CREATE TABLE notes (id int PRIMARY KEY, text text NOT NULL)');
      await client.query(`INSERT INTO notes VALUES (1, 'one'), (2, 'two')`);
    });
    await delay(1100);
    pointInTime = new Date();
    await delay(1100);
    await withOwner(live, source, async (client) => {
      await client.query(`INSERT INTO notes VALUES (3, 'three')`);
      await client.query('DELETE FROM notes WHERE id = 1');
    });
  });

  it('brings the source back as of the time into a new instance that its master user opens; a re-run changes nothing but the password', async () => {
    const restored = await host.restore({
      ...copy,
      from: { sourceIdentifier: source.identifier, pointInTime },
    });
    expect(restored).toEqual(host.endpointOf(copy));
    expect(await notes(restored, copy)).toEqual(['one', 'two']);
    expect(await notes(host.endpointOf(source), source)).toEqual(['two', 'three']);

    const again = { ...copy, masterPassword: `pw-${uniqueToken(8)}` };
    await expect(
      host.restore({ ...again, from: { sourceIdentifier: source.identifier, pointInTime } }),
    ).resolves.toEqual(restored);
    expect(await notes(restored, again)).toEqual(['one', 'two']);
    await expect(notes(restored, copy)).rejects.toMatchObject({ code: '28P01' });
  });

  it('a re-run after a crash between the data and its last mark finds the data restored', async () => {
    const crashed = instance('crashed');
    const from = { sourceIdentifier: source.identifier, pointInTime };
    await host.restore({ ...crashed, from });
    // As the first run left it if it died after pg_restore committed: the mark still pending.
    await asAdmin((admin) =>
      admin.query(
        `COMMENT ON DATABASE "${crashed.identifier}" IS 'silo:restore ` +
          `{"from":"${source.identifier}","pointInTime":"${pointInTime.toISOString()}","state":"pending"}'`,
      ),
    );
    await expect(host.restore({ ...crashed, from })).resolves.toEqual(host.endpointOf(crashed));
    expect(await notes(host.endpointOf(crashed), crashed)).toEqual(['one', 'two']);
  });

  it('refuses, untouched, a target that holds data of anything else; a time outside the window for good', async () => {
    const other = instance('other');
    const live = await host.start(other);
    await withOwner(live, other, (client) => client.query('CREATE TABLE mine (id int)'));
    const taken = await host
      .restore({ ...other, from: { sourceIdentifier: source.identifier, pointInTime } })
      .catch((error: unknown) => error);
    expect(taken).toBeInstanceOf(ProvisioningError);
    expect(taken).toMatchObject({ code: ProvisioningErrorCode.RESOURCE_NAME_TAKEN, retryable: false });
    await withOwner(live, other, (client) => client.query('SELECT * FROM mine'));

    const future = instance('future');
    const outside = await host
      .restore({
        ...future,
        from: { sourceIdentifier: source.identifier, pointInTime: new Date(Date.now() + 3_600_000) },
      })
      .catch((error: unknown) => error);
    expect(outside).toMatchObject({ code: ProvisioningErrorCode.AWS_REJECTED, retryable: false });
    expect((outside as Error).message).toMatch(/outside the restorable window/);
  });
});
