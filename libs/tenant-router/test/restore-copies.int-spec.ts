import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { QueryFailedError } from 'typeorm';
import { NoteEntity, ensureReadOnlyLogin } from '@silo/tenant-schema';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { TEST_REGIONS, testConfig, uniqueToken } from '../../../test/support/test-config';
import { awsEndpoint } from '../../../test/support/test-services';
import { ensureDataPlaneLogin } from '../../control-plane-db/src/data-plane-login';
import { restoreCopyNames, tenantResourceNames } from '../../core/src';
import {
  applyBuiltInSchema,
  ownerEndpoint,
  newTestTenant,
  withClient,
} from '../../tenant-schema/test/tenant-db-fixtures';
import { TenantAccessError, TenantAccessErrorCode, TenantDataPlane, type TenantAppCredentials } from '../src';
import { RESTORE_COPY_APPLICATION_NAME } from '../src/restore-copies';
import {
  adminUrl,
  createTenantDatabases,
  dropTenantDatabases,
  materialise,
  withAdmin,
  type TestTenant,
} from './tenant-router-fixtures';

jest.setTimeout(60_000);

// A tenant on its own instance and a restore copy of it beside it, as the restore saga leaves
// them: the copy's database with the tenant's rows of an earlier time, its read-only login
// (ensureReadOnlyLogin) and that login's secret in the emulator, its row in the control plane.
// The router reads both through the data-plane login only (the directory and restore copy views).
const prefix = `rc${uniqueToken(3)}`;
const slug = `acme-${uniqueToken(2)}`;
const tenantId = randomUUID();
const names = tenantResourceNames(prefix, slug);
const copyNames = restoreCopyNames(prefix, slug, 1);
const readerPassword = `reader-${uniqueToken(12)}`;
const registry: TestTenant[] = [];
const secretNames: string[] = [];

let database: { name: string; url: string };
let live: TestTenant;
let copy: TestTenant;
let secretsManager: SecretsManagerClient;
let dataPlane: TenantDataPlane;

function loginTo(t: TestTenant, username: string, password: string): TenantAppCredentials {
  const server = new URL(adminUrl);
  return { host: server.hostname, port: Number(server.port), dbname: t.database, username, password };
}

async function putSecret(name: string, value: object): Promise<void> {
  secretNames.push(name);
  await secretsManager.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) }));
}

async function insertNotes(t: TestTenant, tenant: string, texts: string[]): Promise<void> {
  await withClient(ownerEndpoint(t), async (owner) => {
    await owner.query(`SELECT set_config('app.tenant_id', $1, false)`, [tenant]);
    for (const text of texts) await owner.query('INSERT INTO app.notes (text) VALUES ($1)', [text]);
  });
}

async function copyRow(run: number, status: string, expiresAt: Date): Promise<void> {
  const c = restoreCopyNames(prefix, slug, run);
  const client = new Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO tenant_restore_copies (tenant_id, run, status, source, region, instance_identifier,
              reader_secret_name, master_secret_name, endpoint_host, endpoint_port, database_name, expires_at)
       VALUES ($1, $2, $3, '{"latest": true}', NULL, $4, $5, $6, NULL, NULL, $7, $8)`,
      [
        tenantId,
        run,
        status,
        c.instanceIdentifier,
        c.readerSecretName,
        c.masterSecretName,
        copy.database,
        expiresAt,
      ],
    );
  } finally {
    await client.end();
  }
}

const texts = (notes: NoteEntity[]) => notes.map((n) => n.text).sort();

beforeAll(async () => {
  database = await createOwnDatabase('rcroute');
  const config = testConfig({ DATABASE_URL: database.url, SILO_RESOURCE_PREFIX: prefix });
  secretsManager = new SecretsManagerClient({
    region: TEST_REGIONS[0],
    endpoint: awsEndpoint(),
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const { secretName: directorySecret } = await ensureDataPlaneLogin(config);
  secretNames.push(directorySecret);

  // The live tenant, as provisioning leaves it.
  [live] = await createTenantDatabases(1, registry);
  await insertNotes(live, tenantId, ['live now']);
  await putSecret(names.appSecretName, loginTo(live, live.appRole, live.appPassword));

  // Its copy: the rows of an earlier time (and another tenant's, which row-level security hides).
  copy = newTestTenant(registry);
  await materialise(copy);
  await applyBuiltInSchema(ownerEndpoint(copy));
  await insertNotes(copy, tenantId, ['restored 1', 'restored 2']);
  await insertNotes(copy, randomUUID(), ['not theirs']);
  await ensureReadOnlyLogin(
    ownerEndpoint(copy),
    { username: copy.ownerRole, password: copy.ownerPassword },
    { role: copyNames.readerRole, password: readerPassword, schema: 'app', tenantId },
  );
  await putSecret(copyNames.readerSecretName, {
    engine: 'postgres',
    ...loginTo(copy, copyNames.readerRole, readerPassword),
    dbInstanceIdentifier: copyNames.instanceIdentifier,
  });

  const client = new Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO tenants (id, slug, name, tier, status, created_by, placement, schema_version)
       VALUES ($1, $2, 'Acme', 'enterprise', 'ACTIVE', 'ops-test', 'instance', '0002')`,
      [tenantId, slug],
    );
  } finally {
    await client.end();
  }
  await copyRow(1, 'AVAILABLE', new Date(Date.now() + 3_600_000));
  await copyRow(2, 'REMOVED', new Date(Date.now() + 3_600_000));
  await copyRow(3, 'AVAILABLE', new Date(Date.now() - 60_000));

  dataPlane = new TenantDataPlane({
    entities: [NoteEntity],
    auth: { audience: 'silo-tenant', hs256Secret: 'test-secret-that-is-long-enough-for-hs256' },
    resourcePrefix: prefix,
    aws: {
      region: TEST_REGIONS[0],
      endpoint: awsEndpoint(),
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    },
    directory: { secretId: directorySecret, tls: { mode: 'disable' } },
    tenantDatabaseTls: { mode: 'disable' },
    limits: { statusTtlMs: 200, connectTimeoutMs: 5_000 },
    restoreCopies: { maxOpen: 1, poolSize: 2 },
    closeTimeoutMs: 2_000,
  });
}, 120_000);

afterAll(async () => {
  await dataPlane?.close();
  for (const name of secretNames)
    await secretsManager
      .send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }))
      .catch(() => undefined);
  secretsManager?.destroy();
  await dropTenantDatabases(registry, 4, [copyNames.readerRole]);
  if (database) await dropDatabase(database.name);
}, 60_000);

describe('Reading a restore copy through the router', () => {
  it('reads the copy’s rows of the tenant, read-only, as the copy’s reader login, on sessions of its own', async () => {
    const seen = await dataPlane.readRestoreCopy(tenantId, 1, async (manager) => {
      const [session] = await manager.query<
        { user: string; database: string; read_only: string; app: string }[]
      >(
        `SELECT current_user AS user, current_database() AS database,
                current_setting('transaction_read_only') AS read_only, application_name AS app
           FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
      );
      return { session, notes: texts(await manager.getRepository(NoteEntity).find()) };
    });
    expect(seen).toEqual({
      session: {
        user: copyNames.readerRole,
        database: copy.database,
        read_only: 'on',
        app: RESTORE_COPY_APPLICATION_NAME,
      },
      notes: ['restored 1', 'restored 2'],
    });
    expect(dataPlane.router.stats().restoreCopies).toMatchObject({ open: 1, leases: 0 });
    // Counted apart: the tenants' budget holds none of the copy's connections.
    expect(dataPlane.router.stats()).toMatchObject({ open: 0, openConnections: 0 });
  });

  it('leaves the tenant’s own leases on the tenant’s own database and login', async () => {
    const own = await dataPlane.transaction(tenantId, async (manager) => {
      const [session] = await manager.query<{ user: string; database: string }[]>(
        'SELECT current_user AS user, current_database() AS database',
      );
      return { session, notes: texts(await manager.getRepository(NoteEntity).find()) };
    });
    expect(own).toEqual({ session: { user: live.appRole, database: live.database }, notes: ['live now'] });
    const lease = await dataPlane.acquire(tenantId);
    try {
      expect(lease.dataSource.options).toMatchObject({ database: live.database, username: live.appRole });
    } finally {
      lease.release();
    }
  });

  it('refuses a write on the copy with 25006, passed through, and the tenant’s own writes go on', async () => {
    const write = dataPlane.readRestoreCopy(tenantId, 1, (manager) =>
      manager.getRepository(NoteEntity).save({ text: 'sneaked in' }),
    );
    await expect(write).rejects.toBeInstanceOf(QueryFailedError);
    await expect(write).rejects.toMatchObject({ driverError: expect.objectContaining({ code: '25006' }) });
    await dataPlane.transaction(tenantId, (manager) =>
      manager.getRepository(NoteEntity).save({ text: 'live later' }),
    );
    const copied = await withAdmin(
      (admin) => admin.query<{ text: string }>('SELECT text FROM app.notes ORDER BY text'),
      copy.database,
    );
    expect(copied.rows.map((r) => r.text)).toEqual(['not theirs', 'restored 1', 'restored 2']);
  });

  it('refuses an expired copy, a removed one and a run the tenant has none of, with their codes', async () => {
    const refusal = (run: number) =>
      dataPlane
        .readRestoreCopy(tenantId, run, () => Promise.resolve())
        .then(
          () => undefined,
          (e: unknown) => e,
        );
    const expired = await refusal(3);
    expect(expired).toBeInstanceOf(TenantAccessError);
    expect(expired).toMatchObject({
      code: TenantAccessErrorCode.RESTORE_COPY_EXPIRED,
      details: { run: 3, copyStatus: 'AVAILABLE' },
    });
    expect(await refusal(2)).toMatchObject({
      code: TenantAccessErrorCode.RESTORE_COPY_EXPIRED,
      details: { run: 2, copyStatus: 'REMOVED' },
    });
    expect(await refusal(9)).toMatchObject({ code: TenantAccessErrorCode.RESTORE_COPY_NOT_FOUND });
    expect(dataPlane.answer(await refusal(2))).toMatchObject({ status: 410 });
    expect(dataPlane.answer(await refusal(9))).toMatchObject({ status: 404 });
  });

  it('closes the copy’s sessions once the control plane marks it removing, and refuses it from then on', async () => {
    await dataPlane.readRestoreCopy(tenantId, 1, (manager) => manager.query('SELECT 1'));
    const client = new Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(
        `UPDATE tenant_restore_copies SET status = 'REMOVING' WHERE tenant_id = $1 AND run = 1`,
        [tenantId],
      );
    } finally {
      await client.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
    await expect(dataPlane.readRestoreCopy(tenantId, 1, () => Promise.resolve())).rejects.toMatchObject({
      code: TenantAccessErrorCode.RESTORE_COPY_EXPIRED,
      details: { copyStatus: 'REMOVING' },
    });
    for (let i = 0; ; i++) {
      const sessions = await withAdmin((admin) =>
        admin.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1', [copyNames.readerRole]),
      );
      if (sessions.rowCount === 0) break;
      if (i === 100) throw new Error('the copy’s sessions stayed open');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(dataPlane.router.stats().restoreCopies.open).toBe(0);
  });
});
