import type { DataSource } from 'typeorm';
import type { StepDeps } from '../saga/provisioning-steps';
import { RestoreCopyRemoval } from './restore-copy-removal';
import type { RestorePlan } from './restore-plan';

const TENANT = '3f2b1c4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e';
const CTX = { actor: 'system', correlationId: 'c' };
const silent = { warn: () => undefined, error: () => undefined, info: () => undefined };

/** A copy due for removal, its restore's plan as `plan` says, and what the removal asked RDS. */
function removalOf(plan: Partial<RestorePlan>) {
  const copy = {
    tenantId: TENANT,
    run: 4,
    status: 'AVAILABLE',
    expiresAt: new Date(0),
    instanceIdentifier: 'silo-restore-acme-4',
  };
  const em = {
    getRepository: () => ({
      update: jest.fn(),
      create: (row: object) => row,
      save: jest.fn(),
      insert: jest.fn(),
    }),
    query: jest.fn().mockResolvedValue([]),
  };
  const dataSource = {
    getRepository: () => ({ findOneBy: () => Promise.resolve(copy), update: jest.fn() }),
    query: () =>
      Promise.resolve([
        {
          plan: {
            region: 'eu-west-1',
            copy: {
              instanceIdentifier: 'silo-restore-acme-4',
              masterSecretName: 'silo/acme/restore-4/master',
              readerSecretName: 'silo/acme/restore-4/reader',
              readerRole: 'acme_restore_4_reader',
              masterUsername: 'silo_restore_4',
            },
            ...plan,
          },
        },
      ]),
    transaction: (work: (e: typeof em) => Promise<unknown>) => work(em),
  } as unknown as DataSource;
  const rds = { delete: jest.fn().mockResolvedValue('gone'), describe: jest.fn().mockResolvedValue(null) };
  const deps = {
    rds,
    host: { remove: jest.fn().mockResolvedValue(undefined) },
    secrets: { delete: jest.fn().mockResolvedValue(undefined) },
    settings: { region: 'eu-west-1' },
  } as unknown as StepDeps;
  return { removal: new RestoreCopyRemoval(deps, dataSource, silent, () => new Date(1_000)), rds };
}

describe('removing a restore copy', () => {
  it("keeps the automated backups of a tenant's former instance (a restore in place), and deletes a copy's own", async () => {
    const inPlace = removalOf({ mode: 'replace', placement: 'instance', switched: true });
    await inPlace.removal.run(TENANT, 4, CTX);
    expect(inPlace.rds.delete).toHaveBeenCalledWith('silo-restore-acme-4', {
      ownerTenantId: TENANT,
      deleteAutomatedBackups: false,
    });

    for (const plan of [
      { mode: 'copy' as const, placement: 'instance' as const },
      // Failed before its switch: the copy is still the restored instance, never the tenant's.
      { mode: 'replace' as const, placement: 'instance' as const, switched: false },
      { mode: 'replace' as const, placement: 'schema' as const, switched: true },
    ]) {
      const other = removalOf(plan);
      await other.removal.run(TENANT, 4, CTX);
      expect({ plan, call: other.rds.delete.mock.calls[0] }).toEqual({
        plan,
        call: ['silo-restore-acme-4', { ownerTenantId: TENANT }],
      });
    }
  });
});
