import { loadConfigOrExit } from '@silo/config';
import {
  controlPlaneDataSourceOptions,
  ProvisioningStepEntity,
  TenantEntity,
  TenantEventEntity,
} from '@silo/control-plane-db';
import { isTierName, slugProblem, TenantError, TIER_NAMES } from '@silo/core';
import { userInfo } from 'node:os';
import { DataSource } from 'typeorm';
import { TenantOnboarding } from '../onboarding/tenant-onboarding.service';
import { loadTierProfiles } from '../tiers';

const USAGE = `usage:
  npm run tenant -- create <slug> <tier> [name]   create a tenant; the worker provisions it
  npm run tenant -- show <slug>                   status, database, steps and events
  npm run tenant -- list                          every tenant, newest first
  npm run tenant -- delete <slug>                 deprovision (final snapshot where the tier keeps backups)
tiers: ${TIER_NAMES.join(', ')}`;

const out = (line = '') => process.stdout.write(`${line}\n`);

/** A mistake in what the operator asked for: reported on one line, exit 1. */
class CliError extends Error {}

/**
 * An operator's command line over the control-plane database, for the local stack until the
 * HTTP API covers the same ground. Acts as `cli:<user>`.
 */
async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || !['create', 'show', 'list', 'delete'].includes(command)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrExit('tenant');
  const ds = await new DataSource(
    controlPlaneDataSourceOptions({
      url: config.database.url,
      poolMax: 2,
      connectTimeoutMs: config.database.connectTimeoutMs,
      applicationName: 'silo-cli',
    }),
  ).initialize();
  const ctx = { actor: `cli:${userInfo().username}`, correlationId: `cli-${Date.now()}` };
  try {
    const tenants = ds.getRepository(TenantEntity);
    const bySlug = async (slug: string | undefined) => {
      const found = slug ? await tenants.findOneBy({ slug }) : null;
      if (!found) throw new CliError(`no tenant with slug ${JSON.stringify(slug ?? '')}`);
      return found;
    };
    switch (command) {
      case 'create': {
        const [slug = '', tier = '', ...name] = args;
        const problem = slugProblem(slug);
        if (problem) throw new CliError(`slug ${JSON.stringify(slug)} ${problem}`);
        if (!isTierName(tier)) throw new CliError(`tier must be one of ${TIER_NAMES.join(', ')}`);
        if (await tenants.findOneBy({ slug })) throw new CliError(`slug ${slug} is taken`);
        const { tenant } = await new TenantOnboarding(ds, {
          tiers: loadTierProfiles(config.tenants.tierProfilesFile),
        }).createTenant({ slug, tier, name: name.join(' ') || slug }, ctx);
        out(
          `created ${tenant.slug} (${tenant.id}), ${tenant.tier}, PENDING; follow it with: npm run tenant -- show ${slug}`,
        );
        return 0;
      }
      case 'show': {
        const t = await bySlug(args[0]);
        out(`${t.slug}  ${t.status}  tier ${t.tier}  id ${t.id}`);
        if (t.dbInstanceIdentifier)
          out(
            `database  ${t.dbInstanceIdentifier} ${t.dbInstanceClass}  ${t.dbEndpointHost ?? '-'}:${t.dbEndpointPort ?? '-'}/${t.dbName ?? '-'}  schema ${t.schemaVersion ?? '-'}`,
          );
        if (t.failureCode) out(`failed at ${t.failureStep}: ${t.failureCode} ${t.failureMessage}`);
        const steps = await ds
          .getRepository(ProvisioningStepEntity)
          .find({ where: { tenantId: t.id }, order: { saga: 'DESC', position: 'ASC' } });
        for (const s of steps)
          out(
            `  ${s.saga.padEnd(11)} ${s.step.padEnd(24)} ${s.status.padEnd(11)} attempts ${s.attempts}${s.lastErrorCode ? `  last error ${s.lastErrorCode}` : ''}`,
          );
        const events = await ds
          .getRepository(TenantEventEntity)
          .find({ where: { tenantId: t.id }, order: { id: 'ASC' } });
        for (const e of events)
          out(`  ${e.at.toISOString()}  ${e.type.padEnd(28)} ${e.actor.padEnd(16)} ${e.message}`);
        return 0;
      }
      case 'list': {
        for (const t of await tenants.find({ order: { createdAt: 'DESC' }, take: 200 })) {
          out(
            `${t.slug.padEnd(33)} ${t.status.padEnd(15)} ${t.tier.padEnd(11)} ${t.createdAt.toISOString()}`,
          );
        }
        return 0;
      }
      case 'delete': {
        const t = await bySlug(args[0]);
        await new TenantOnboarding(ds, {
          tiers: loadTierProfiles(config.tenants.tierProfilesFile),
        }).requestDeletion(t.id, ctx);
        out(`${t.slug} is DEPROVISIONING; follow it with: npm run tenant -- show ${t.slug}`);
        return 0;
      }
    }
    return 2;
  } catch (error) {
    if (error instanceof CliError || error instanceof TenantError) {
      process.stderr.write(`tenant: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await ds.destroy();
  }
}

// `npm run tenant -- list | head` closes the pipe early; that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`tenant: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
