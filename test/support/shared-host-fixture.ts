import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { AwsClients } from '../../libs/aws/src';
import { hostName, hostResourceNames, type SharedPlacement } from '../../libs/core/src';
import {
  loadTenantMigrations,
  materialiseLocalInstance,
  migrateTenantSchema,
  type PgEndpoint,
} from '../../libs/tenant-schema/src';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { instanceAdminUrl } from './test-services';

const server = new URL(instanceAdminUrl());

/** The run's cluster of the local instance backend, where the first region's hosts and tenant instances live. */
export const LOCAL_SERVER = { host: server.hostname, port: Number(server.port || 5432) };

/** That cluster's superuser (SCRAM, as every login there): reads every tenant's rows. */
export const LOCAL_SUPERUSER = {
  user: decodeURIComponent(server.username),
  password: decodeURIComponent(server.password),
};

export interface AvailableHost {
  id: string;
  name: string;
  /** The host's master login on its database (the local backend's host instance). */
  owner: PgEndpoint;
}

/**
 * An available shared host, made as the host saga leaves it on the local backend: its master
 * secret in the emulator, a database with its owner, a pool host's pool database migrated once
 * (with the built-in migrations unless `migrationsDir` names others, up to `target`), and its control-plane row
 * with `capacity` places.
 */
export async function availableHost(options: {
  dataSource: DataSource;
  aws: AwsClients;
  prefix: string;
  placement: SharedPlacement;
  tier: string;
  ordinal: number;
  capacity: number;
  migrationsDir?: string;
  /** The version a pool host's pool database is migrated to; default the newest. */
  target?: string;
}): Promise<AvailableHost> {
  const { placement, tier, ordinal } = options;
  const name = hostName(placement, tier, ordinal);
  const names = hostResourceNames(options.prefix, name);
  const password = randomBytes(24).toString('base64url');
  await options.aws.secretsManager.send(
    new CreateSecretCommand({
      Name: names.masterSecretName,
      SecretString: JSON.stringify({ engine: 'postgres', username: names.masterUsername, password }),
    }),
  );
  await materialiseLocalInstance(instanceAdminUrl(), {
    database: names.instanceIdentifier,
    ownerRole: names.masterUsername,
    ownerPassword: password,
  });
  const owner: PgEndpoint = {
    ...LOCAL_SERVER,
    database: names.instanceIdentifier,
    user: names.masterUsername,
    password,
  };
  let schemaVersion: string | null = null;
  if (placement === 'pool') {
    ({ schemaVersion } = await migrateTenantSchema(
      owner,
      loadTenantMigrations(options.migrationsDir ? { dir: options.migrationsDir } : {}),
      {
        ...(options.target ? { target: options.target } : {}),
        lockTimeoutMs: 10_000,
        statementTimeoutMs: 60_000,
        appliedBy: 'host',
        tenant: name,
        into: { placement: 'pool', schema: 'app' },
      },
    ));
  }
  const [{ id }] = await options.dataSource.query<{ id: string }[]>(
    `INSERT INTO hosts (name, placement, tier, ordinal, status, instance_identifier, endpoint_host,
                        endpoint_port, database_name, capacity_tenants, connection_budget, schema_version)
     VALUES ($1, $2, $3, $4, 'available', $5, $6, $7, 'silo', $8, 100, $9) RETURNING id`,
    [
      name,
      placement,
      tier,
      ordinal,
      names.instanceIdentifier,
      LOCAL_SERVER.host,
      LOCAL_SERVER.port,
      options.capacity,
      schemaVersion,
    ],
  );
  return { id, name, owner };
}
