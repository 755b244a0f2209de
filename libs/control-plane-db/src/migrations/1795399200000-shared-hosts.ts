import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Shared hosts (design.md, "Placements"): RDS instances Silo runs for many `schema` or `pool`
 * tenants, one row each, named `<placement>-<tier>-<ordinal>` (the name every AWS resource of the
 * host is derived from). Tenants say where their data lives: `placement` (existing tenants are
 * `instance`) and, for a shared placement, the host they are placed on.
 *
 * `host_id` may be NULL for a shared tenant while it is still being placed (the tenant row is
 * written at onboarding, the place is taken later by the allocator) and in the statuses a tenant
 * can reach without ever having been placed (FAILED, DEPROVISIONING, DELETED); an ACTIVE or
 * SUSPENDED shared tenant always has its host. An `instance` tenant never has one. A tenant keeps
 * its `host_id` once DELETED, as history; it no longer counts as placed.
 */
export class SharedHosts1795399200000 implements MigrationInterface {
  name = 'SharedHosts1795399200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE hosts (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name varchar(40) NOT NULL,
        placement varchar(16) NOT NULL,
        tier varchar(32) NOT NULL,
        ordinal integer NOT NULL,
        status varchar(16) NOT NULL,
        instance_identifier varchar(63) NOT NULL,
        endpoint_host varchar(255),
        endpoint_port integer,
        database_name varchar(63) NOT NULL,
        capacity_tenants integer NOT NULL,
        connection_budget integer NOT NULL,
        error jsonb,
        empty_since timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz,
        CONSTRAINT hosts_pkey PRIMARY KEY (id),
        CONSTRAINT hosts_name_key UNIQUE (name),
        CONSTRAINT hosts_placement_tier_ordinal_key UNIQUE (placement, tier, ordinal),
        CONSTRAINT hosts_placement_known CHECK (placement IN ('schema', 'pool')),
        CONSTRAINT hosts_status_known CHECK (status IN ('creating', 'available', 'deleting', 'deleted', 'failed')),
        CONSTRAINT hosts_ordinal_range CHECK (ordinal BETWEEN 1 AND 999999),
        CONSTRAINT hosts_name_format CHECK (
          name ~ '^(pool|schema)-[a-z]+-[0-9]{3,6}$'
          AND name = placement || '-' || tier || '-' || lpad(ordinal::text, greatest(3, length(ordinal::text)), '0')),
        CONSTRAINT hosts_capacity_positive CHECK (capacity_tenants > 0 AND connection_budget > 0),
        CONSTRAINT hosts_endpoint_port_range CHECK (endpoint_port BETWEEN 1 AND 65535),
        CONSTRAINT hosts_endpoint_whole CHECK ((endpoint_host IS NULL) = (endpoint_port IS NULL)),
        CONSTRAINT hosts_available_has_endpoint CHECK (status <> 'available' OR endpoint_host IS NOT NULL),
        CONSTRAINT hosts_deleted_at_matches_status CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX hosts_created_at_id_idx ON hosts (created_at, id)`);
    await q.query(`CREATE INDEX hosts_placement_tier_status_idx ON hosts (placement, tier, status)`);

    await q.query(`ALTER TABLE tenants ADD COLUMN placement varchar(16) NOT NULL DEFAULT 'instance'`);
    await q.query(`ALTER TABLE tenants ADD COLUMN host_id uuid`);
    await q.query(
      `ALTER TABLE tenants ADD CONSTRAINT tenants_host_fkey FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE RESTRICT`,
    );
    await q.query(
      `ALTER TABLE tenants ADD CONSTRAINT tenants_placement_known CHECK (placement IN ('instance', 'schema', 'pool'))`,
    );
    await q.query(`
      ALTER TABLE tenants ADD CONSTRAINT tenants_host_matches_placement CHECK (
        (placement = 'instance' AND host_id IS NULL)
        OR (placement <> 'instance' AND (host_id IS NOT NULL OR status NOT IN ('ACTIVE', 'SUSPENDED'))))`);
    // The allocator counts a host's tenants on every placement.
    await q.query(`CREATE INDEX tenants_host_id_idx ON tenants (host_id) WHERE host_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX tenants_host_id_idx`);
    await q.query(`ALTER TABLE tenants DROP CONSTRAINT tenants_host_matches_placement`);
    await q.query(`ALTER TABLE tenants DROP CONSTRAINT tenants_placement_known`);
    await q.query(`ALTER TABLE tenants DROP CONSTRAINT tenants_host_fkey`);
    await q.query(`ALTER TABLE tenants DROP COLUMN host_id`);
    await q.query(`ALTER TABLE tenants DROP COLUMN placement`);
    await q.query(`DROP TABLE hosts`);
  }
}
