import type { RdsInstances, TenantExports, TenantSecrets } from '@silo/aws';
import { loadTenantMigrations } from '@silo/tenant-schema';
import type { TenantEntity } from '@silo/control-plane-db';
import { TenantError, TenantErrorCode } from '@silo/core';
import type { DataSource } from 'typeorm';
import type { ProvisioningSettings } from '../saga/provisioning-settings';
import { DEFAULT_TIER_PROFILES } from '../tiers/default-tier-profiles';
import { TenantUndeletes } from './tenant-undeletes.service';

const ID = '3f2b1c4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e';
const deleted = {
  id: ID,
  slug: 'acme',
  tier: 'enterprise',
  status: 'DELETED',
  placement: 'instance',
  hostId: null,
  region: null,
  dbInstanceIdentifier: 'silo-acme',
  changeRun: 3,
} as unknown as TenantEntity;
const FINAL = 'silo-acme-final-20261207-101500';
const DAY = 86_400_000;

interface World {
  tenant?: Partial<TenantEntity>;
  /** Another tenant row with the slug. */
  slugHeldBy?: string;
  /** The final snapshot the deletion's step.completed event names (undefined: no event). */
  recorded?: string;
  snapshot?: Record<string, unknown> | null;
  listed?: Record<string, unknown>[];
  secrets?: Record<string, { exists: false } | { exists: true; deletionDate?: Date; ownerTenantId?: string }>;
  instance?: Record<string, unknown> | null;
  /** A shared tenant's export its deletion recorded (undefined: none). */
  exported?: { bucket: string; key: string };
  /** What S3 answers for the export (undefined: it is there, the tenant's). */
  exportInS3?: { tags: Record<string, string> } | null;
}
const EXPORT = { bucket: 'silo-exports', key: 'silo/exports/acme/20261207-101500.dump' };

const snapshotOf = (over: Record<string, unknown> = {}) => ({
  identifier: FINAL,
  type: 'manual',
  status: 'available',
  instanceIdentifier: 'silo-acme',
  tags: { 'silo:tenant-id': ID },
  ...over,
});

function undeletesWith(world: World) {
  const settings = {
    prefix: 'silo',
    defaultRegion: 'eu-west-1',
    tiers: DEFAULT_TIER_PROFILES,
    migrations: loadTenantMigrations(),
  } as unknown as ProvisioningSettings;
  const tenant = { ...deleted, ...world.tenant };
  const transaction = jest.fn();
  const dataSource = {
    getRepository: () => ({
      findOneBy: () => Promise.resolve(tenant),
      createQueryBuilder: () => {
        const qb = {
          where: () => qb,
          andWhere: () => qb,
          orderBy: () => qb,
          limit: () => qb,
          getMany: () =>
            Promise.resolve(
              world.exported
                ? [{ data: world.exported }]
                : world.recorded === undefined
                  ? []
                  : [{ data: { finalSnapshotIdentifier: world.recorded } }],
            ),
        };
        return qb;
      },
    }),
    query: () => Promise.resolve(world.slugHeldBy ? [{ id: world.slugHeldBy }] : []),
    transaction,
  } as unknown as DataSource;
  const snapshot = jest.fn().mockResolvedValue(world.snapshot === undefined ? snapshotOf() : world.snapshot);
  const rds = {
    inRegion: () => ({
      snapshot,
      snapshots: () => Promise.resolve(world.listed ?? []),
      describe: () => Promise.resolve(world.instance ?? null),
    }),
  } as unknown as RdsInstances;
  const inWindow = { exists: true, deletionDate: new Date(Date.now() + 5 * DAY), ownerTenantId: ID } as const;
  const secrets = {
    inRegion: () => ({
      status: (name: string) => Promise.resolve(world.secrets?.[name] ?? inWindow),
    }),
  } as unknown as TenantSecrets;
  const exports = {
    inRegion: () => ({
      describe: () =>
        Promise.resolve(
          world.exportInS3 === null
            ? null
            : { ...EXPORT, bytes: 10, tags: world.exportInS3?.tags ?? { 'silo:tenant-id': ID } },
        ),
    }),
  } as unknown as TenantExports;
  return {
    undeletes: new TenantUndeletes(dataSource, settings, rds, secrets, exports),
    transaction,
    snapshot,
  };
}

async function refusal(
  work: Promise<unknown>,
): Promise<{ code: string; rule?: string; detail: Record<string, string> }> {
  try {
    await work;
  } catch (error) {
    if (error instanceof TenantError)
      return { code: error.code, rule: error.detail.rule, detail: { ...error.detail } };
    throw error;
  }
  throw new Error('not refused');
}

const CTX = { actor: 'admin', correlationId: 'c' };

describe('asking for an undelete', () => {
  it('refuses a tenant that is not DELETED (409, its status), recording nothing', async () => {
    const { undeletes, transaction } = undeletesWith({ tenant: { status: 'ACTIVE' } });
    const refused = await refusal(undeletes.requestUndelete(ID, CTX));
    expect(refused.code).toBe(TenantErrorCode.ILLEGAL_TRANSITION);
    expect(transaction).not.toHaveBeenCalled();
  });

  it("plans a schema tenant's undelete from its export, with its app secret and its schema version", async () => {
    const { undeletes, transaction } = undeletesWith({
      tenant: { placement: 'schema', tier: 'pro', schemaVersion: '0001' },
      exported: EXPORT,
    });
    transaction.mockRejectedValue(new Error('stop at the transaction'));
    await expect(undeletes.requestUndelete(ID, CTX)).rejects.toThrow('stop at the transaction');
    expect(transaction).toHaveBeenCalledTimes(1);
  });

  it('refuses a schema or pool tenant whose deletion exported nothing, or whose export is gone or not its own', async () => {
    for (const [tenant, placement] of [
      [{ placement: 'schema', tier: 'pro', schemaVersion: '0001' }, 'schema'],
      [{ placement: 'pool', tier: 'starter' }, 'pool'],
    ] as const) {
      expect(await refusal(undeletesWith({ tenant }).undeletes.requestUndelete(ID, CTX))).toMatchObject({
        code: TenantErrorCode.UNDELETE_REFUSED,
        rule: 'no-export',
      });
      expect(
        await refusal(
          undeletesWith({ tenant, exported: EXPORT, exportInS3: null }).undeletes.requestUndelete(ID, CTX),
        ),
      ).toMatchObject({ rule: 'export-missing', detail: { export: EXPORT.key } });
      expect(
        await refusal(
          undeletesWith({
            tenant,
            exported: EXPORT,
            exportInS3: { tags: { 'silo:tenant-id': 'someone-else' } },
          }).undeletes.requestUndelete(ID, CTX),
        ),
      ).toMatchObject({ rule: 'slug-reused' });
      // The tier places its tenants elsewhere now.
      expect(
        await refusal(
          undeletesWith({
            tenant: { ...tenant, tier: 'enterprise' },
            exported: EXPORT,
          }).undeletes.requestUndelete(ID, CTX),
        ),
      ).toMatchObject({ rule: 'placement-changed', detail: { placement } });
    }
  });

  it("refuses a schema tenant whose schema version the application's migrations do not have", async () => {
    const { undeletes } = undeletesWith({
      tenant: { placement: 'schema', tier: 'pro', schemaVersion: '9999' },
      exported: EXPORT,
    });
    expect(await refusal(undeletes.requestUndelete(ID, CTX))).toMatchObject({
      rule: 'unknown-schema-version',
      detail: { schemaVersion: '9999' },
    });
  });

  it('refuses when another tenant holds the slug now', async () => {
    const { undeletes } = undeletesWith({
      slugHeldBy: 'b1c2d3e4-0000-4000-8000-000000000001',
      recorded: FINAL,
    });
    expect(await refusal(undeletes.requestUndelete(ID, CTX))).toMatchObject({
      code: TenantErrorCode.UNDELETE_REFUSED,
      rule: 'slug-reused',
    });
  });

  it('refuses a deletion that left no final snapshot', async () => {
    const { undeletes } = undeletesWith({});
    expect(await refusal(undeletes.requestUndelete(ID, CTX))).toMatchObject({
      code: TenantErrorCode.UNDELETE_REFUSED,
      rule: 'no-final-snapshot',
    });
  });

  it('refuses when the recorded final snapshot is gone, or is not the tenant’s', async () => {
    for (const snapshot of [null, snapshotOf({ tags: { 'silo:tenant-id': 'someone-else' } })]) {
      const { undeletes } = undeletesWith({ recorded: FINAL, snapshot });
      expect(await refusal(undeletes.requestUndelete(ID, CTX))).toMatchObject({
        rule: 'final-snapshot-missing',
        detail: { snapshot: FINAL },
      });
    }
  });

  it('refuses a final snapshot still being made', async () => {
    const { undeletes } = undeletesWith({ recorded: FINAL, snapshot: snapshotOf({ status: 'creating' }) });
    expect((await refusal(undeletes.requestUndelete(ID, CTX))).rule).toBe('final-snapshot-not-ready');
  });

  it('refuses after the recovery window: a secret past its deletion date, or deleted for good', async () => {
    const past = new Date(Date.now() - 1_000);
    for (const status of [
      { exists: true as const, deletionDate: past, ownerTenantId: ID },
      { exists: false as const },
    ]) {
      const { undeletes } = undeletesWith({ recorded: FINAL, secrets: { 'silo/acme/app': status } });
      expect(await refusal(undeletes.requestUndelete(ID, CTX))).toMatchObject({
        code: TenantErrorCode.UNDELETE_REFUSED,
        rule: 'recovery-window-ended',
        detail: { secret: 'silo/acme/app' },
      });
    }
  });

  it('refuses when the secrets’ names are another tenant’s', async () => {
    const { undeletes } = undeletesWith({
      recorded: FINAL,
      secrets: { 'silo/acme/master': { exists: true, ownerTenantId: 'another' } },
    });
    expect((await refusal(undeletes.requestUndelete(ID, CTX))).rule).toBe('slug-reused');
  });

  it('refuses when an instance has the tenant’s name already', async () => {
    const mine = undeletesWith({
      recorded: FINAL,
      instance: { status: 'available', tags: { 'silo:tenant-id': ID } },
    });
    expect((await refusal(mine.undeletes.requestUndelete(ID, CTX))).rule).toBe('instance-exists');
    const theirs = undeletesWith({
      recorded: FINAL,
      instance: { status: 'available', tags: { 'silo:tenant-id': 'another' } },
    });
    expect((await refusal(theirs.undeletes.requestUndelete(ID, CTX))).rule).toBe('slug-reused');
  });

  it('finds the newest final snapshot of the instance when the deletion recorded none, and records the undelete', async () => {
    const older = snapshotOf({ identifier: 'silo-acme-final-20261101-000000' });
    const newer = snapshotOf();
    const manual = snapshotOf({ identifier: 'silo-acme-manual-20261207-120000' });
    const { undeletes } = undeletesWith({ listed: [older, newer, manual] });
    const open = jest
      .spyOn(undeletes as unknown as { open: (...args: unknown[]) => Promise<TenantEntity> }, 'open')
      .mockResolvedValue(deleted);
    await undeletes.requestUndelete(ID, CTX);
    expect(open).toHaveBeenCalledWith(
      expect.objectContaining({ id: ID }),
      {
        placement: 'instance',
        region: 'eu-west-1',
        finalSnapshot: FINAL,
        instanceIdentifier: 'silo-acme',
        secrets: [
          { name: 'silo/acme/master', deletionDate: expect.any(String) },
          { name: 'silo/acme/app', deletionDate: expect.any(String) },
        ],
        recoveryWindowEndsAt: expect.any(String),
      },
      CTX,
    );
  });
});
