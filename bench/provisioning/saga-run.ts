import { performance } from 'node:perf_hooks';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { SiloConfig } from '@silo/config';
import { TIER_NAMES } from '@silo/core';
import { TenantOnboarding } from '@silo/fleet';
import { Logger } from 'nestjs-pino';
import { Client } from 'pg';
import { WorkerModule } from '../../apps/provisioning-worker/src/worker.module';
import { type PhaseTimings } from './bench-report';

const POLL_MS = 100;
const CTX = { actor: 'bench', correlationId: 'bench-provisioning' };

/** The tenants ended FAILED; the message says which, where and why. */
export class TenantsFailed extends Error {
  override readonly name = 'TenantsFailed';
}

/** The worker as `main.ts` starts it (pino logger included), in this process. */
export async function bootWorker(config: SiloConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.register(config), {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  await app.init();
  return app;
}

/**
 * Creates the tenants through TenantOnboarding (tenant row, event and outbox row, as the API
 * will), then waits until every one is ACTIVE. Per-tenant times come from the control plane's
 * own timestamps: created_at, and the provisioning_started and activated events.
 */
export async function provisionThroughSaga(options: {
  app: INestApplicationContext;
  databaseUrl: string;
  slugs: readonly string[];
  signal: AbortSignal;
}): Promise<PhaseTimings> {
  const { app, slugs, signal } = options;
  const onboarding = app.get(TenantOnboarding);
  const db = new Client({ connectionString: options.databaseUrl, application_name: 'silo-bench-poller' });
  await db.connect();
  try {
    const cpuStart = process.cpuUsage();
    const startEpochMs = Date.now();
    const start = performance.now();
    for (const [i, slug] of slugs.entries()) {
      signal.throwIfAborted();
      const tier = TIER_NAMES[i % TIER_NAMES.length];
      await onboarding.createTenant({ slug, name: `bench tenant ${i}`, tier }, CTX);
    }
    for (;;) {
      signal.throwIfAborted();
      const { rows } = await db.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM tenants GROUP BY status',
      );
      const count = (status: string) => rows.find((r) => r.status === status)?.n ?? 0;
      if (count('FAILED') > 0) throw new TenantsFailed(await failures(db));
      if (count('ACTIVE') === slugs.length) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const cpu = process.cpuUsage(cpuStart);
    const seenAllActiveMs = performance.now() - start;

    const { rows } = await db.query<{ created: string; started: string; activated: string }>(
      `SELECT extract(epoch FROM t.created_at) * 1000 AS created,
              extract(epoch FROM s.at) * 1000 AS started,
              extract(epoch FROM a.at) * 1000 AS activated
         FROM tenants t
         JOIN tenant_events s ON s.tenant_id = t.id AND s.type = 'tenant.provisioning_started'
         JOIN tenant_events a ON a.tenant_id = t.id AND a.type = 'tenant.activated'`,
    );
    const times = rows.map((r) => ({
      created: Number(r.created),
      started: Number(r.started),
      activated: Number(r.activated),
    }));
    const lastActivated = Math.max(...times.map((t) => t.activated));
    return {
      tenants: slugs.length,
      // To the last activation (the database's clock, the same machine's): no polling interval in it.
      wallMs: Math.min(seenAllActiveMs, lastActivated - startEpochMs),
      cpuMs: (cpu.user + cpu.system) / 1000,
      timeToDoneMs: times.map((t) => t.activated - t.created),
      workMs: times.map((t) => t.activated - t.started),
    };
  } finally {
    await db.end();
  }
}

async function failures(db: Client): Promise<string> {
  const { rows } = await db.query<{ slug: string; step: string; code: string; message: string }>(
    `SELECT slug, failure_step AS step, failure_code AS code, failure_message AS message
       FROM tenants WHERE status = 'FAILED' ORDER BY slug`,
  );
  return (
    `${rows.length} tenant(s) FAILED:\n` +
    rows.map((r) => `  ${r.slug}: ${r.step} ${r.code}: ${r.message}`).join('\n')
  );
}
