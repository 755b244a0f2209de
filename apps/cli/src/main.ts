#!/usr/bin/env node
import { randomUUID } from 'node:crypto';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PLACEMENTS as PLACEMENT_NAMES, TIER_NAMES } from '@silo/core';
import { ApiClient, ApiError } from './api-client';
import { output, table, type Output } from './render';
import { localZone, zoneOf, type TimeContext } from './restore-time';
import { changeEnded, changeFailure, watchChange, type ChangeWatch } from './tenant-change-watch';
import { moveBody, moveOutcome, watchMove, type MoveChange } from './tenant-move';
import {
  copiesTable,
  copyLines,
  restorableText,
  restoreBody,
  snapshotsTable,
  type RestoreCopyView,
  type SnapshotView,
} from './tenant-restore';

/** Exit codes: 0 ok, 1 the operation failed, 2 usage, 3 authentication or authorisation. */
const EXIT = { ok: 0, failed: 1, usage: 2, auth: 3 } as const;
const DEFAULT_API = 'http://localhost:3000';
const TIERS: readonly string[] = TIER_NAMES;
const PLACEMENTS: readonly string[] = PLACEMENT_NAMES;

const USAGE = `usage: silo <command> [options]

  tenants list [--status S[,S]] [--tier T[,T]] [--region R[,R]] [--limit N] [--cursor C]
  tenants show <id-or-slug>
  tenants create --slug S --name N --tier T [--region R] [--idempotency-key K] [--watch]
  tenants delete <slug> --confirm <slug> [--watch]
  tenants retry|suspend|resume <id-or-slug>
  tenants change-tier <id-or-slug> --tier T [--apply now|maintenance-window] [--watch]
  tenants rotate <id-or-slug> [--which app|master|both] [--watch]
  tenants move <id-or-slug> [--placement instance|schema|pool] [--region R] [--tier T] [--watch]
  tenants move-abort <id-or-slug> [--watch]
  tenants restorable <id-or-slug> [--tz Z]
  tenants restore <id-or-slug> --to TIME | --latest | --snapshot ID [--mode copy|replace] [--rollout] [--tz Z] [--watch]
                 TIME: ISO 8601 (2026-12-07T10:32:00Z), or "yesterday 10:32", "today 10:32",
                 "2026-12-07 10:32" in --tz (an IANA zone or UTC; default: this machine's)
  tenants restores <id-or-slug>
  tenants restore-remove <id-or-slug> <run>
  tenants snapshots|snapshot <id-or-slug>
  tenants undelete <id-or-slug> [--watch]
  rollouts list
  rollouts start [--target V] [--canary N] [--waves P,P] [--max-concurrency N]
                 [--failure-threshold N] [--pause-between-waves] [--tiers T[,T]]
                 [--exclude ID-OR-SLUG[,ID-OR-SLUG]] [--watch]
  rollouts show|pause|resume|abort <id> [--watch]
  rollouts skip <id> <tenant-id-or-slug> --reason R [--watch]
  alarms [--state ALARM|INSUFFICIENT_DATA|OK] [--tier T[,T]] [--limit N]
  reconcile

options for every command:
  --token T          the API token (default: $SILO_TOKEN; npm run --silent token -- --role admin)
  --api URL          the API (default: $SILO_API_URL, or ${DEFAULT_API})
  --output table|json
  -h, --help

exit codes: 0 ok, 1 the operation failed, 2 bad usage, 3 not authenticated or not allowed
`;

class UsageError extends Error {}

interface Ctx {
  api: ApiClient;
  out: Output;
  watch: boolean;
  pollMs: number;
}

const COMMON: ParseArgsConfig['options'] = {
  token: { type: 'string' },
  api: { type: 'string' },
  output: { type: 'string' },
  watch: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

interface TenantView {
  id: string;
  slug: string;
  name: string;
  tier: string;
  status: string;
  region: string | null;
  createdAt: string;
  firingAlarms: number | null;
  placement?: string;
  restorable?: { earliest: string; latest: string } | null;
  database: { instanceIdentifier: string; schemaVersion: string | null } | null;
  provisioning: {
    steps: { name: string; saga: string; status: string }[];
    lastError: { message: string } | null;
  };
  change: MoveChange | null;
}

interface RolloutView {
  id: string;
  status: string;
  targetVersion: string;
  currentWave: number;
  pausedReason: string | null;
  counts: Record<string, number>;
  failedTenants?: { slug: string; message: string | null }[];
  skippedTenants?: { slug: string; wave: number | null; reason: string | null; skippedBy: string | null }[];
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [group, ...rest] = argv;
  if (!group) {
    process.stderr.write(USAGE);
    return EXIT.usage;
  }
  if (group === '-h' || group === '--help' || group === 'help') {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  try {
    return await dispatch(group, rest, env);
  } catch (error) {
    if (error instanceof UsageError || isParseError(error)) {
      process.stderr.write(`silo: ${(error as Error).message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    if (error instanceof ApiError) {
      process.stderr.write(`silo: ${error.message}\n`);
      return error.isAuth ? EXIT.auth : EXIT.failed;
    }
    throw error;
  }
}

async function dispatch(group: string, argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  switch (group) {
    case 'tenants':
      return tenants(argv, env);
    case 'rollouts':
      return rollouts(argv, env);
    case 'alarms':
      return alarms(argv, env);
    case 'reconcile': {
      const { ctx } = parse(argv, {}, env, 0);
      const queued = await ctx.api.call<{ jobId: string }>('POST', '/v1/reconcile');
      ctx.out.print(queued, () => `reconcile pass queued (job ${queued.jobId})`);
      return EXIT.ok;
    }
    default:
      throw new UsageError(`unknown command "${group}"`);
  }
}

/** Parses `argv` strictly: an unknown option or a missing/extra positional is a usage error naming it. */
function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
  env: NodeJS.ProcessEnv,
  positionals: number,
  what = 'this command',
) {
  const parsed = parseArgs({
    args: argv,
    options: { ...COMMON, ...options },
    allowPositionals: true,
    strict: true,
  });
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const given = parsed.positionals;
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(EXIT.ok);
  }
  if (given.length !== positionals) {
    throw new UsageError(
      given.length < positionals
        ? `${what} needs ${positionals === 1 ? 'an id or slug' : `${positionals} arguments`}`
        : `unexpected argument "${given[positionals]}"`,
    );
  }
  const format = (values.output as string | undefined) ?? 'table';
  if (format !== 'table' && format !== 'json')
    throw new UsageError(`--output must be table or json, not "${format}"`);
  const token = (values.token as string | undefined) ?? env.SILO_TOKEN;
  if (!token) {
    throw new ApiError(
      401,
      'no token',
      'set SILO_TOKEN or pass --token (npm run --silent token -- --role admin)',
    );
  }
  const base = (values.api as string | undefined) ?? env.SILO_API_URL ?? DEFAULT_API;
  if (!/^https?:\/\//.test(base)) throw new UsageError(`--api must be an http(s) URL, not "${base}"`);
  const ctx: Ctx = {
    api: new ApiClient(base, token),
    out: output(format),
    watch: Boolean(values.watch),
    pollMs: Number(env.SILO_WATCH_POLL_MS ?? 1000),
  };
  return { ctx, values, args: given };
}

function oneOf(name: string, value: string | undefined, allowed: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, not "${value}"`);
  return value;
}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number, not "${value}"`);
  return Number(value);
}

function required(name: string, value: string | boolean | undefined): string {
  if (typeof value !== 'string' || !value) throw new UsageError(`--${name} is required`);
  return value;
}

// --- tenants --------------------------------------------------------------------------------

async function tenants(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  const path = (idOrSlug: string) => `/v1/tenants/${encodeURIComponent(idOrSlug)}`;
  switch (sub) {
    case 'list': {
      const { ctx, values } = parse(
        rest,
        {
          status: { type: 'string' },
          tier: { type: 'string' },
          region: { type: 'string' },
          limit: { type: 'string' },
          cursor: { type: 'string' },
        },
        env,
        0,
      );
      const query = new URLSearchParams();
      for (const key of ['status', 'tier', 'region', 'cursor'] as const)
        if (typeof values[key] === 'string') query.set(key, values[key]);
      const limit = integer('limit', values.limit as string | undefined);
      if (limit !== undefined) query.set('limit', String(limit));
      const page = await ctx.api.call<{ items: TenantView[]; nextCursor: string | null }>(
        'GET',
        `/v1/tenants?${query.toString()}`,
      );
      ctx.out.print(page, () =>
        [
          table(
            ['SLUG', 'NAME', 'TIER', 'REGION', 'STATUS', 'SCHEMA', 'FIRING', 'CREATED'],
            page.items.map((t) => [
              t.slug,
              t.name,
              t.tier,
              t.region,
              t.status,
              t.database?.schemaVersion,
              t.firingAlarms,
              t.createdAt,
            ]),
          ),
          ...(page.nextCursor ? [`more: --cursor ${page.nextCursor}`] : []),
        ].join('\n'),
      );
      return EXIT.ok;
    }
    case 'show': {
      const { ctx, args } = parse(rest, {}, env, 1, 'tenants show');
      return showTenant(ctx, await ctx.api.call<TenantView>('GET', path(args[0])));
    }
    case 'create': {
      const { ctx, values } = parse(
        rest,
        {
          slug: { type: 'string' },
          name: { type: 'string' },
          tier: { type: 'string' },
          region: { type: 'string' },
          'idempotency-key': { type: 'string' },
        },
        env,
        0,
      );
      const body = {
        slug: required('slug', values.slug),
        name: required('name', values.name),
        tier: oneOf('tier', required('tier', values.tier), TIERS),
        // Omitted: the API's default region. An unknown one is the API's 422, naming the configured ones.
        ...(typeof values.region === 'string' ? { region: values.region } : {}),
      };
      // One key per invocation: a retried request (a timeout, a double run of the same line with
      // the key given) creates one tenant.
      const key = (values['idempotency-key'] as string | undefined) ?? randomUUID();
      const tenant = await ctx.api.call<TenantView>('POST', '/v1/tenants', body, { 'idempotency-key': key });
      return finishTenant(ctx, tenant, 'ACTIVE');
    }
    case 'delete': {
      const { ctx, values, args } = parse(rest, { confirm: { type: 'string' } }, env, 1, 'tenants delete');
      const confirm = required('confirm', values.confirm);
      const tenant = await ctx.api.call<TenantView>(
        'DELETE',
        `${path(args[0])}?confirm=${encodeURIComponent(confirm)}`,
      );
      return finishTenant(ctx, tenant, 'DELETED');
    }
    case 'retry':
    case 'suspend':
    case 'resume': {
      const { ctx, args } = parse(rest, {}, env, 1, `tenants ${sub}`);
      const tenant = await ctx.api.call<TenantView>('POST', `${path(args[0])}/${sub}`);
      return finishTenant(ctx, tenant, sub === 'retry' ? 'ACTIVE' : null);
    }
    case 'change-tier': {
      const { ctx, values, args } = parse(
        rest,
        { tier: { type: 'string' }, apply: { type: 'string' } },
        env,
        1,
        'tenants change-tier',
      );
      const body = {
        tier: oneOf('tier', required('tier', values.tier), TIERS),
        apply: oneOf('apply', values.apply as string | undefined, ['now', 'maintenance-window']) ?? 'now',
      };
      const tenant = await ctx.api.call<TenantView>('PATCH', path(args[0]), body);
      return finishChange(ctx, tenant);
    }
    case 'rotate': {
      const { ctx, values, args } = parse(rest, { which: { type: 'string' } }, env, 1, 'tenants rotate');
      // Omitted: every credential the tenant owns (the API decides by its placement).
      const which = oneOf('which', values.which as string | undefined, ['app', 'master', 'both']);
      const tenant = await ctx.api.call<TenantView>(
        'POST',
        `${path(args[0])}/rotate-credentials`,
        which ? { which } : {},
      );
      return finishChange(ctx, tenant);
    }
    case 'move': {
      const { ctx, values, args } = parse(
        rest,
        { placement: { type: 'string' }, region: { type: 'string' }, tier: { type: 'string' } },
        env,
        1,
        'tenants move',
      );
      // The placement follows the tier; the API refuses (422) what it cannot move to, naming why.
      const body = moveBody({
        placement: oneOf('placement', values.placement as string | undefined, PLACEMENTS),
        region: values.region as string | undefined,
        tier: oneOf('tier', values.tier as string | undefined, TIERS),
      });
      if (!body) throw new UsageError('tenants move needs --placement, --region or --tier');
      return finishMove(ctx, await ctx.api.call<TenantView>('POST', `${path(args[0])}/move`, body));
    }
    case 'move-abort': {
      const { ctx, args } = parse(rest, {}, env, 1, 'tenants move-abort');
      return finishMove(ctx, await ctx.api.call<TenantView>('POST', `${path(args[0])}/move/abort`));
    }
    case 'restorable': {
      const { ctx, values, args } = parse(rest, { tz: { type: 'string' } }, env, 1, 'tenants restorable');
      const zone = timeZone(values.tz as string | undefined);
      const tenant = await ctx.api.call<TenantView>('GET', path(args[0]));
      const snapshots = await ctx.api.call<{ items: SnapshotView[] }>('GET', `${path(tenant.id)}/snapshots`);
      ctx.out.print(
        {
          id: tenant.id,
          slug: tenant.slug,
          restorable: tenant.restorable ?? null,
          snapshots: snapshots.items,
        },
        () => restorableText(tenant, snapshots.items, zone),
      );
      return EXIT.ok;
    }
    case 'restore': {
      const { ctx, values, args } = parse(
        rest,
        {
          to: { type: 'string' },
          latest: { type: 'boolean' },
          snapshot: { type: 'string' },
          mode: { type: 'string' },
          rollout: { type: 'boolean' },
          tz: { type: 'string' },
        },
        env,
        1,
        'tenants restore',
      );
      // `replace` goes through as asked: whether Silo makes it yet is the API's answer (422).
      const mode = oneOf('mode', values.mode as string | undefined, ['copy', 'replace']) ?? 'copy';
      const time: TimeContext = {
        now: new Date(Date.now()),
        zone: timeZone(values.tz as string | undefined),
      };
      const asked = restoreBody(
        {
          to: values.to as string | undefined,
          latest: values.latest as boolean | undefined,
          snapshot: values.snapshot as string | undefined,
          mode,
          rollout: values.rollout as boolean | undefined,
        },
        time,
      );
      if (!asked.ok) throw new UsageError(asked.problem);
      if (asked.note) ctx.out.event(`${args[0]}: ${asked.note}`);
      return finishRestore(
        ctx,
        await ctx.api.call<TenantView>('POST', `${path(args[0])}/restores`, asked.body),
      );
    }
    case 'restores': {
      const { ctx, args } = parse(rest, {}, env, 1, 'tenants restores');
      const copies = await ctx.api.call<{ items: RestoreCopyView[] }>('GET', `${path(args[0])}/restores`);
      ctx.out.print(copies, () => copiesTable(copies.items));
      return EXIT.ok;
    }
    case 'restore-remove': {
      const { ctx, args } = parse(rest, {}, env, 2, 'tenants restore-remove');
      const run = args[1];
      if (!/^[1-9]\d{0,9}$/.test(run))
        throw new UsageError(
          `a restore's run is a positive whole number (tenants restores lists them), not "${run}"`,
        );
      const copy = await ctx.api.call<RestoreCopyView>('DELETE', `${path(args[0])}/restores/${run}`);
      ctx.out.print(copy, () =>
        [
          ...copyLines(copy),
          ...(copy.status === 'AVAILABLE'
            ? [`  its removal runs now: tenants restores ${args[0]} shows it REMOVED once gone`]
            : []),
        ].join('\n'),
      );
      return EXIT.ok;
    }
    case 'snapshots': {
      const { ctx, args } = parse(rest, {}, env, 1, 'tenants snapshots');
      const snapshots = await ctx.api.call<{ items: SnapshotView[] }>('GET', `${path(args[0])}/snapshots`);
      ctx.out.print(snapshots, () => snapshotsTable(snapshots.items));
      return EXIT.ok;
    }
    case 'snapshot': {
      const { ctx, args } = parse(rest, {}, env, 1, 'tenants snapshot');
      const taken = await ctx.api.call<{ identifier: string; status: string }>(
        'POST',
        `${path(args[0])}/snapshots`,
      );
      ctx.out.print(
        taken,
        () =>
          `snapshot ${taken.identifier} ${taken.status}: tenants snapshots ${args[0]} lists it once it is taken`,
      );
      return EXIT.ok;
    }
    case 'undelete': {
      const { ctx, args } = parse(rest, {}, env, 1, 'tenants undelete');
      const answer = await ctx.api.call<unknown>('POST', `${path(args[0])}/undelete`);
      return finishUndelete(ctx, args[0], answer);
    }
    default:
      throw new UsageError(sub ? `unknown tenants command "${sub}"` : 'tenants needs a command');
  }
}

function showTenant(ctx: Ctx, t: TenantView): number {
  ctx.out.print(t, () => {
    const steps = t.provisioning.steps.map((s) => `  ${s.saga}/${s.name}: ${s.status}`);
    const c = t.change;
    const change = !c
      ? []
      : c.kind === 'move'
        ? [
            `change ${c.run} (move ${c.from} → ${c.to}${c.toTier ? `, tier ${c.toTier}` : ''}): ${c.status}`,
            ...c.steps.map((s) => `  move/${s.name}: ${s.status}`),
            ...moveOutcome(c).map((line) => `  ${line}`),
          ]
        : c.kind === 'restore'
          ? [
              `change ${c.run} (restore ${c.from} → ${c.to}): ${c.status}`,
              ...c.steps.map((s) => `  restore/${s.name}: ${s.status}`),
              ...(c.error ? [`  ${changeFailure(c.error)}`] : []),
            ]
          : [
              `change ${c.run} (${c.kind} ${c.from} → ${c.to}): ${c.status}${c.error ? ` — ${c.error.message}` : ''}`,
            ];
    return [
      `${t.slug} (${t.id})`,
      `  name ${t.name}, tier ${t.tier}, region ${t.region ?? '-'}, status ${t.status}, firing alarms ${t.firingAlarms ?? '-'}`,
      `  instance ${t.database?.instanceIdentifier ?? '-'}, schema ${t.database?.schemaVersion ?? '-'}`,
      ...(t.provisioning.lastError ? [`  last error: ${t.provisioning.lastError.message}`] : []),
      ...steps,
      ...change,
    ].join('\n');
  });
  return EXIT.ok;
}

/** Prints the tenant; with --watch, follows it until `until` (or FAILED, which exits 1). */
async function finishTenant(ctx: Ctx, tenant: TenantView, until: string | null): Promise<number> {
  if (!ctx.watch || !until) return showTenant(ctx, tenant);
  let t = tenant;
  for (;;) {
    const done = t.provisioning.steps.filter((s) => s.status === 'done').length;
    const current = t.provisioning.steps.find((s) => s.status !== 'done' && s.status !== 'pending');
    ctx.out.progress(
      `${t.slug}: ${t.status}  ${done}/${t.provisioning.steps.length} steps${current ? `  ${current.name} (${current.status})` : ''}`,
    );
    if (t.status === until || t.status === 'FAILED') break;
    await sleep(ctx.pollMs);
    // DELETED tenants stay readable, so a delete is followed to its end too.
    t = await ctx.api.call<TenantView>('GET', `/v1/tenants/${t.id}`);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  showTenant(ctx, t);
  return t.status === until ? EXIT.ok : EXIT.failed;
}

async function finishChange(ctx: Ctx, tenant: TenantView): Promise<number> {
  if (!ctx.watch) return showTenant(ctx, tenant);
  let t = tenant;
  const run = t.change?.run;
  for (;;) {
    const c = t.change;
    if (!c || c.run !== run) break;
    const done = c.steps.filter((s) => s.status === 'done').length;
    ctx.out.progress(`${t.slug}: ${c.kind} ${c.status}  ${done}/${c.steps.length || '?'} steps`);
    if (c.status === 'SUCCEEDED' || c.status === 'FAILED' || c.status === 'PENDING_MAINTENANCE') break;
    await sleep(ctx.pollMs);
    t = await ctx.api.call<TenantView>('GET', `/v1/tenants/${t.id}`);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  showTenant(ctx, t);
  return t.change?.status === 'FAILED' ? EXIT.failed : EXIT.ok;
}

/**
 * Prints the tenant; with --watch, follows its move to the end, a line for each step as it
 * changes, then the write pause or the error. Exits 1 when the move failed (an abort included).
 */
async function finishMove(ctx: Ctx, tenant: TenantView): Promise<number> {
  if (!ctx.watch) return showTenant(ctx, tenant);
  const t = await watchMove(tenant, tenantWatch(ctx));
  if (process.stderr.isTTY) process.stderr.write('\n');
  showTenant(ctx, t);
  return t.change?.kind === 'move' && t.change.status === 'FAILED' ? EXIT.failed : EXIT.ok;
}

/**
 * Prints the tenant; with --watch, follows its restore to the end, a line for each step, then
 * (a copy, as a table) the copy it made: where it is, its reader's secret, when it goes.
 * Exits 1 when the restore failed.
 */
async function finishRestore(ctx: Ctx, tenant: TenantView): Promise<number> {
  if (!ctx.watch) return showTenant(ctx, tenant);
  const t = await watchChange(tenant, 'restore', tenantWatch(ctx));
  if (process.stderr.isTTY) process.stderr.write('\n');
  showTenant(ctx, t);
  const c = t.change;
  if (c?.kind !== 'restore') return EXIT.ok;
  if (c.status === 'FAILED') return EXIT.failed;
  if (c.status === 'SUCCEEDED' && !ctx.out.json) {
    const copies = await ctx.api.call<{ items: RestoreCopyView[] }>('GET', `/v1/tenants/${t.id}/restores`);
    const copy = copies.items.find((x) => x.run === c.run);
    if (copy) ctx.out.print(copy, () => copyLines(copy).join('\n'));
  }
  return EXIT.ok;
}

/**
 * Prints the API's answer; with --watch, follows the tenant back: its change to the end when
 * one runs, else its status to ACTIVE (or FAILED, which exits 1).
 */
async function finishUndelete(ctx: Ctx, idOrSlug: string, answer: unknown): Promise<number> {
  const isTenant = (v: unknown): v is TenantView =>
    typeof v === 'object' && v !== null && 'slug' in v && 'provisioning' in v;
  if (!ctx.watch) {
    if (isTenant(answer)) return showTenant(ctx, answer);
    ctx.out.print(answer, () => JSON.stringify(answer, null, 2));
    return EXIT.ok;
  }
  const t = isTenant(answer)
    ? answer
    : await ctx.api.call<TenantView>('GET', `/v1/tenants/${encodeURIComponent(idOrSlug)}`);
  const c = t.change;
  if (!c || changeEnded(c)) return finishTenant(ctx, t, 'ACTIVE');
  const last = await watchChange(t, c.kind, tenantWatch(ctx));
  if (process.stderr.isTTY) process.stderr.write('\n');
  showTenant(ctx, last);
  return last.change?.status === 'FAILED' ? EXIT.failed : EXIT.ok;
}

/** How a watch of a tenant's change reads the tenant again, reports and waits. */
function tenantWatch(ctx: Ctx): ChangeWatch<TenantView> {
  return {
    read: (id) => ctx.api.call<TenantView>('GET', `/v1/tenants/${id}`),
    event: (line) => ctx.out.event(line),
    progress: (line) => ctx.out.progress(line),
    sleep: () => sleep(ctx.pollMs),
  };
}

/** The zone `--tz` names, else this machine's. */
function timeZone(name: string | undefined): string {
  if (name === undefined) return localZone();
  const zone = zoneOf(name);
  if (!zone)
    throw new UsageError(`--tz must be an IANA time zone such as Europe/Berlin, or UTC, not "${name}"`);
  return zone;
}

// --- rollouts -------------------------------------------------------------------------------

async function rollouts(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list': {
      const { ctx } = parse(rest, {}, env, 0);
      const page = await ctx.api.call<{ items: RolloutView[] }>('GET', '/v1/schema-rollouts');
      ctx.out.print(page, () =>
        table(
          ['ID', 'STATUS', 'TARGET', 'WAVE', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'PENDING'],
          page.items.map((r) => [
            r.id,
            r.status,
            r.targetVersion,
            r.currentWave,
            r.counts.succeeded,
            r.counts.failed,
            r.counts.skipped,
            r.counts.pending,
          ]),
        ),
      );
      return EXIT.ok;
    }
    case 'start': {
      const { ctx, values } = parse(
        rest,
        {
          target: { type: 'string' },
          canary: { type: 'string' },
          waves: { type: 'string' },
          'max-concurrency': { type: 'string' },
          'failure-threshold': { type: 'string' },
          'pause-between-waves': { type: 'boolean' },
          tiers: { type: 'string' },
          exclude: { type: 'string' },
        },
        env,
        0,
      );
      const waves =
        typeof values.waves === 'string'
          ? values.waves.split(',').map((w) => integer('waves', w)!)
          : undefined;
      const tiers =
        typeof values.tiers === 'string'
          ? values.tiers.split(',').map((t) => oneOf('tiers', t, TIERS)!)
          : undefined;
      const body = Object.fromEntries(
        Object.entries({
          targetVersion: values.target,
          canary: integer('canary', values.canary as string | undefined),
          waves,
          maxConcurrency: integer('max-concurrency', values['max-concurrency'] as string | undefined),
          failureThreshold: integer('failure-threshold', values['failure-threshold'] as string | undefined),
          pauseBetweenWaves: values['pause-between-waves'] ? true : undefined,
          tiers,
          exclude:
            typeof values.exclude === 'string'
              ? values.exclude.split(',').filter((t) => t !== '')
              : undefined,
        }).filter(([, v]) => v !== undefined),
      );
      return finishRollout(ctx, await ctx.api.call<RolloutView>('POST', '/v1/schema-rollouts', body));
    }
    case 'show':
    case 'pause':
    case 'resume':
    case 'abort': {
      const { ctx, args } = parse(rest, {}, env, 1, `rollouts ${sub}`);
      const path = `/v1/schema-rollouts/${encodeURIComponent(args[0])}`;
      const rollout = await ctx.api.call<RolloutView>(
        sub === 'show' ? 'GET' : 'POST',
        sub === 'show' ? path : `${path}/${sub}`,
      );
      return finishRollout(ctx, rollout);
    }
    case 'skip': {
      const { ctx, args, values } = parse(rest, { reason: { type: 'string' } }, env, 2, 'rollouts skip');
      if (typeof values.reason !== 'string' || values.reason.trim() === '')
        throw new UsageError(
          'rollouts skip needs --reason (why the tenant is left out, for the audit trail)',
        );
      const [id, tenant] = args;
      const rollout = await ctx.api.call<RolloutView>(
        'POST',
        `/v1/schema-rollouts/${encodeURIComponent(id)}/tenants/${encodeURIComponent(tenant)}/skip`,
        { reason: values.reason },
      );
      return finishRollout(ctx, rollout);
    }
    default:
      throw new UsageError(sub ? `unknown rollouts command "${sub}"` : 'rollouts needs a command');
  }
}

function showRollout(ctx: Ctx, r: RolloutView): void {
  ctx.out.print(r, () =>
    [
      `rollout ${r.id} to ${r.targetVersion}: ${r.status}${r.pausedReason ? ` (${r.pausedReason})` : ''}, wave ${r.currentWave}`,
      `  ${Object.entries(r.counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      ...(r.failedTenants ?? []).map((f) => `  failed: ${f.slug}: ${f.message ?? ''}`),
      ...skippedLines(r.skippedTenants ?? []),
    ].join('\n'),
  );
}

/** Tenants skipped during the rollout one by one; those skipped at its start by reason. */
function skippedLines(skipped: NonNullable<RolloutView['skippedTenants']>): string[] {
  const atStart = new Map<string, number>();
  const lines: string[] = [];
  for (const s of skipped) {
    if (s.wave === null) atStart.set(s.reason ?? '', (atStart.get(s.reason ?? '') ?? 0) + 1);
    else lines.push(`  skipped: ${s.slug}: ${s.reason ?? ''}${s.skippedBy ? ` (by ${s.skippedBy})` : ''}`);
  }
  if (atStart.size)
    lines.unshift(`  skipped at start: ${[...atStart].map(([reason, n]) => `${n} ${reason}`).join(', ')}`);
  return lines;
}

async function finishRollout(ctx: Ctx, rollout: RolloutView): Promise<number> {
  let r = rollout;
  while (ctx.watch && (r.status === 'RUNNING' || r.status === 'PAUSED')) {
    const total = Object.values(r.counts).reduce((a, b) => a + b, 0);
    ctx.out.progress(
      `rollout ${r.status}  ${r.counts.succeeded + r.counts.skipped}/${total} tenants, ${r.counts.failed} failed, wave ${r.currentWave}`,
    );
    // A paused rollout waits for an operator: watching it further would never end.
    if (r.status === 'PAUSED') break;
    await sleep(ctx.pollMs);
    r = await ctx.api.call<RolloutView>('GET', `/v1/schema-rollouts/${r.id}`);
  }
  if (ctx.watch && process.stderr.isTTY) process.stderr.write('\n');
  showRollout(ctx, r);
  if (!ctx.watch) return EXIT.ok;
  return r.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failed;
}

// --- alarms ---------------------------------------------------------------------------------

async function alarms(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { ctx, values } = parse(
    argv,
    { state: { type: 'string' }, tier: { type: 'string' }, limit: { type: 'string' } },
    env,
    0,
  );
  const query = new URLSearchParams({
    state:
      oneOf('state', values.state as string | undefined, ['ALARM', 'INSUFFICIENT_DATA', 'OK']) ?? 'ALARM',
  });
  if (typeof values.tier === 'string') query.set('tier', values.tier);
  const limit = integer('limit', values.limit as string | undefined);
  if (limit !== undefined) query.set('limit', String(limit));
  const page = await ctx.api.call<{
    items: {
      name: string;
      metric: string;
      state: string;
      threshold: number;
      updatedAt: string | null;
      tenant: { slug: string; tier: string } | null;
      host: { name: string; tier: string } | null;
      hostTenants: { count: number } | null;
    }[];
  }>('GET', `/v1/alarms?${query.toString()}`);
  ctx.out.print(page, () =>
    table(
      ['TENANT', 'TIER', 'METRIC', 'STATE', 'THRESHOLD', 'SINCE'],
      page.items.map((a) => [
        // A shared host's alarm concerns every tenant on it.
        a.tenant?.slug ?? `host ${a.host?.name} (${a.hostTenants?.count ?? 0} tenants)`,
        a.tenant?.tier ?? a.host?.tier,
        a.metric,
        a.state,
        a.threshold,
        a.updatedAt,
      ]),
    ),
  );
  return EXIT.ok;
}

function isParseError(error: unknown): boolean {
  return (
    typeof (error as { code?: unknown })?.code === 'string' &&
    (error as { code: string }).code.startsWith('ERR_PARSE_ARGS')
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

if (require.main === module) {
  void main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`silo: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(EXIT.failed);
    },
  );
}
