import { CONTENDER_LABELS, type Contender, type ContenderKey } from './contender';
import {
  heapAfterGc,
  measureOverhead,
  ProcessTally,
  type ConnectionPeaks,
  type ConnectionSampler,
  type OverheadResult,
} from './measurements';
import type { RouterBenchArgs } from './router-bench-args';
import { cellKey, queriesPerSecond, type Cell, type WorkloadKey } from './router-bench-report';
import {
  addResult,
  balancedOrders,
  closedLoop,
  emptyResult,
  herd,
  touchEach,
  uniformPicker,
  zipfPicker,
  type WorkloadResult,
} from './workloads';

/** What the phases share with the run. */
export interface PhaseContext {
  args: RouterBenchArgs;
  /** Every tenant id, the warm ones first. */
  ids: readonly string[];
  warmIds: readonly string[];
  cells: Map<string, Cell>;
  sampler: () => ConnectionSampler;
  open: (workload: WorkloadKey, key: ContenderKey) => Promise<Contender>;
  /** Contenders open now, for cleanup after an interruption. */
  openContenders: Set<Contender>;
  log: (line: string) => void;
  signal: AbortSignal;
}

/** A contender of the warm workload's interleaved group. */
interface WarmMember {
  key: ContenderKey;
  contender: Contender;
  /** Its own stretches only (opening, warming, its slices). */
  tally: ProcessTally;
  result: WorkloadResult;
  /** queries/s of each of its slices, by round. */
  sliceRates: number[];
  /** heapUsed after GC once opened and warmed, minus before it was opened. */
  heapBytes: number | undefined;
}

/** A measured stretch between two contender switches in the warm workload, unmeasured lead-in first. */
const SLICE_LEAD_IN_MS = 250;

/**
 * Warm: (b), (c) and the two references are opened together, each warmed (every tenant touched
 * once, then `warmupS` under load), and measured in `rounds` interleaved slices, so that drift on
 * a shared machine touches them alike and their ratio holds. The order of the slices comes from
 * balancedOrders(): each member follows each other equally often, because a slice runs a little
 * faster or slower after some members than after others (their backends were used or left idle),
 * and with a plain rotation, where every member always follows the same one, (c) came out 1–14 %
 * faster than the pre-opened Map in four runs (0 % with the order reversed), though the two differ
 * only by the router. (a) runs alone
 * afterwards (warmNaivePhase): its hundreds of connections would weigh on the others.
 */
export async function warmPhase(ctx: PhaseContext): Promise<void> {
  const { args, warmIds, signal } = ctx;
  const pick = uniformPicker(warmIds.length, args.concurrency);
  const load = (contender: Contender, warmupMs: number, durationMs: number) =>
    closedLoop({
      contender,
      concurrency: args.concurrency,
      warmupMs,
      durationMs,
      pick: (worker) => warmIds[pick(worker)],
      signal,
    });

  const keys: ContenderKey[] = ['b', 'c', 'ref', 'ref1'];
  const sampler = ctx.sampler();
  sampler.start();
  const group: WarmMember[] = [];
  try {
    for (const key of keys) {
      signal.throwIfAborted();
      ctx.log(`warm: opening and warming ${CONTENDER_LABELS[key].trim()}`);
      const tally = new ProcessTally();
      const heapBefore = await heapAfterGc();
      const contender = await tally.over(() => ctx.open('warm', key));
      ctx.openContenders.add(contender);
      await tally.over(async () => {
        await touchEach(contender, warmIds);
        await load(contender, args.warmupS * 1000, 0);
      });
      group.push({
        key,
        contender,
        tally,
        result: emptyResult(),
        sliceRates: [],
        heapBytes: await heapDelta(heapBefore),
      });
    }
    const sliceMs = (args.durationS * 1000) / args.rounds;
    const orders = balancedOrders(group.length);
    for (let round = 0; round < args.rounds; round++) {
      for (const index of orders[round % orders.length]) {
        const member = group[index];
        const slice = await member.tally.over(() => load(member.contender, SLICE_LEAD_IN_MS, sliceMs));
        member.sliceRates.push(queriesPerSecond(slice));
        addResult(member.result, slice);
      }
      ctx.log(
        `warm: round ${round + 1} of ${args.rounds}: ` +
          group.map((m) => `${m.key} ${queriesPerSecond(m.result).toFixed(0)}/s`).join(', '),
      );
    }
    const overheads = new Map<ContenderKey, OverheadResult>();
    for (const member of group) {
      overheads.set(member.key, await measureOverhead(member.contender, warmIds, args.overheadIterations));
    }
    const peaks = sampler.stop();
    for (const member of group) {
      ctx.cells.set(cellKey('warm', member.key), {
        kind: 'ran',
        result: member.result,
        overhead: overheads.get(member.key),
        initialisations: member.contender.initialisations(),
        connectsOpened: member.tally.connects,
        peakConnections: peaks.byApplication.get(member.contender.applicationName) ?? 0,
        cpuShare: member.tally.cpuShare,
        heapBytes: member.heapBytes,
        sliceRates: member.sliceRates,
        notes: member.contender.notes(),
      });
    }
  } finally {
    sampler.stop();
    for (const member of group) await closeQuietly(ctx, member.contender);
  }
  await waitForQuiet(ctx);
}

/** Warm, (a): alone, after the group is closed and gone. */
export async function warmNaivePhase(ctx: PhaseContext): Promise<void> {
  const { args, warmIds, signal } = ctx;
  const pick = uniformPicker(warmIds.length, args.concurrency);
  await alone(ctx, 'warm', 'a', async (contender) => {
    await touchEach(contender, warmIds);
    const result = await closedLoop({
      contender,
      concurrency: args.concurrency,
      warmupMs: args.warmupS * 1000,
      durationMs: args.durationS * 1000,
      pick: (worker) => warmIds[pick(worker)],
      signal,
    });
    const overhead = await measureOverhead(contender, warmIds, args.overheadIterations);
    return { result, overhead };
  });
}

/** Zipf over the whole fleet, from cold; (b) cannot take part. */
export async function zipfPhase(ctx: PhaseContext): Promise<void> {
  const { args, ids, signal } = ctx;
  const pick = zipfPicker(ids.length, args.zipfS, args.concurrency);
  ctx.cells.set(cellKey('zipf', 'b'), {
    kind: 'n/a',
    reason: `one DataSource reaches one database; it cannot serve ${args.tenants} tenant databases`,
  });
  for (const key of ['a', 'c'] as const) {
    await alone(ctx, 'zipf', key, async (contender) => ({
      result: await closedLoop({
        contender,
        concurrency: args.concurrency,
        warmupMs: 0,
        durationMs: args.durationS * 1000,
        pick: (worker) => ids[pick(worker)],
        signal,
      }),
    }));
  }
}

/** A herd of requests on one cold tenant, a different one per contender; (b) has no cold tenant. */
export async function herdPhase(ctx: PhaseContext): Promise<void> {
  const { args, ids } = ctx;
  ctx.cells.set(cellKey('herd', 'b'), {
    kind: 'n/a',
    reason: 'one shared DataSource is opened once at start-up; it has no cold tenant',
  });
  const tenants = { a: ids[ids.length - 1], c: ids[ids.length - 2] };
  for (const key of ['a', 'c'] as const) {
    await alone(ctx, 'herd', key, async (contender) => ({
      result: await herd(contender, tenants[key], args.herd),
    }));
  }
}

/** Opens the contender, runs `drive` with connections sampled throughout, then closes it. */
async function alone(
  ctx: PhaseContext,
  workload: WorkloadKey,
  key: ContenderKey,
  drive: (contender: Contender) => Promise<{ result: WorkloadResult; overhead?: OverheadResult }>,
): Promise<void> {
  ctx.signal.throwIfAborted();
  ctx.log(`${workload}: ${CONTENDER_LABELS[key].trim()}`);
  const sampler = ctx.sampler();
  const tally = new ProcessTally();
  sampler.start();
  let peaks: ConnectionPeaks;
  let contender: Contender | undefined;
  const heapBefore = await heapAfterGc();
  try {
    const outcome = await tally.over(async () => {
      contender = await ctx.open(workload, key);
      ctx.openContenders.add(contender);
      return drive(contender);
    });
    peaks = sampler.stop();
    const opened = contender!;
    const heapBytes = await heapDelta(heapBefore);
    ctx.cells.set(cellKey(workload, key), {
      kind: 'ran',
      ...outcome,
      initialisations: opened.initialisations(),
      connectsOpened: tally.connects,
      // Alone on the server: every client connection is the contender's, authenticating ones included.
      peakConnections: peaks.total,
      cpuShare: tally.cpuShare,
      heapBytes,
      notes: opened.notes(),
    });
    ctx.log(`  ${summary(outcome.result)}, peak connections ${peaks.total}`);
  } finally {
    sampler.stop();
    if (contender) await closeQuietly(ctx, contender);
  }
  await waitForQuiet(ctx);
}

/** heapUsed after GC now minus `before` (both with node --expose-gc). */
async function heapDelta(before: number | undefined): Promise<number | undefined> {
  const now = await heapAfterGc();
  return before === undefined || now === undefined ? undefined : now - before;
}

async function closeQuietly(ctx: PhaseContext, contender: Contender): Promise<void> {
  if (!ctx.openContenders.delete(contender)) return;
  await contender
    .close()
    .catch((error: unknown) =>
      ctx.log(
        `closing ${CONTENDER_LABELS[contender.key].trim()}: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
}

async function waitForQuiet(ctx: PhaseContext): Promise<void> {
  const left = await ctx.sampler().waitForNoClients(20_000);
  if (left > 0) ctx.log(`  ${left} connections still open 20 s after closing`);
}

function summary(result: WorkloadResult): string {
  const errors = [...result.errors.values()].reduce((a, b) => a + b, 0);
  return `${result.ok} ok (${queriesPerSecond(result).toFixed(0)}/s), ${errors} errors`;
}
