import type { Tenant } from '../../apps/console/src/api';
import { moveRequest, moveState, tenantActions } from '../../apps/console/src/lifecycle';

type Change = NonNullable<Tenant['change']>;

function move(over: Partial<Change> = {}): Change {
  return {
    kind: 'move',
    run: 1,
    from: 'pool@us-east-1',
    to: 'instance@eu-central-1',
    apply: 'now',
    status: 'RUNNING',
    notes: [],
    steps: [],
    pendingModifiedValues: null,
    error: null,
    toTier: 'enterprise',
    abortRequested: false,
    cutOver: null,
    sourceRemovalDueAt: null,
    requestedBy: 'admin',
    requestedAt: '2026-12-07T11:00:00.000Z',
    finishedAt: null,
    ...over,
  };
}

const step = (name: string, status: Change['steps'][number]['status']) => ({
  name,
  saga: 'move' as const,
  status,
  attempts: 1,
  startedAt: null,
  finishedAt: null,
});

describe('the console’s move action', () => {
  it('offers a move to a live tenant no change holds, in every placement', () => {
    for (const placement of ['instance', 'schema', 'pool'] as const) {
      expect(tenantActions({ status: 'ACTIVE', change: null, placement }).move).toBe(true);
      expect(tenantActions({ status: 'SUSPENDED', change: null, placement }).move).toBe(true);
    }
    expect(tenantActions({ status: 'FAILED', change: null, placement: 'pool' }).move).toBe(false);
    expect(tenantActions({ status: 'PROVISIONING', change: null, placement: 'pool' }).move).toBe(false);
    const moving = tenantActions({ status: 'ACTIVE', change: move(), placement: 'pool' });
    expect(moving).toMatchObject({ move: false, changeTier: false, rotate: false, delete: false });
    expect(
      tenantActions({ status: 'ACTIVE', change: move({ status: 'SUCCEEDED' }), placement: 'instance' }).move,
    ).toBe(true);
  });

  it('asks for the fields filled in only, and for nothing when none is', () => {
    expect(moveRequest({ placement: '', region: ' eu-central-1 ', tier: 'enterprise' })).toEqual({
      region: 'eu-central-1',
      tier: 'enterprise',
    });
    expect(moveRequest({ placement: 'pool', region: '', tier: '' })).toEqual({ placement: 'pool' });
    expect(moveRequest({ placement: '', region: '  ', tier: '' })).toBeNull();
  });
});

describe('moveState', () => {
  it('is null for a change that is not a move', () => {
    expect(moveState(null)).toBeNull();
    expect(moveState(move({ kind: 'tier', from: 'starter', to: 'pro' }))).toBeNull();
  });

  it('may be aborted while it runs before its cut-over, and not once asked or once the cut-over has begun', () => {
    expect(moveState(move({ steps: [step('target-instance', 'running')] }))).toMatchObject({
      running: true,
      abortable: true,
    });
    expect(
      moveState(move({ steps: [step('wait-copy', 'done'), step('cut-over', 'pending')] }))?.abortable,
    ).toBe(true);
    expect(moveState(move({ abortRequested: true }))).toMatchObject({
      abortable: false,
      abortRequested: true,
    });
    for (const status of ['running', 'waiting', 'done'] as const)
      expect(moveState(move({ steps: [step('cut-over', status)] }))?.abortable).toBe(false);
    expect(moveState(move({ status: 'FAILED' }))?.abortable).toBe(false);
  });

  it('gives the write pause of a switched move, and the error of a failed one', () => {
    const done = move({
      status: 'SUCCEEDED',
      cutOver: { frozenForMs: 180, pausedForMs: 240, tables: [{ table: 'notes', rows: 3 }] },
      sourceRemovalDueAt: '2026-12-08T11:00:00.000Z',
    });
    expect(moveState(done)).toMatchObject({
      running: false,
      abortable: false,
      pausedForMs: 240,
      error: null,
    });
    const failed = move({
      status: 'FAILED',
      error: {
        code: 'MOVE_ABORTED',
        message: 'the move was aborted before its cut-over',
        step: 'target-place',
      },
    });
    expect(moveState(failed)).toMatchObject({
      pausedForMs: null,
      error: 'MOVE_ABORTED at target-place: the move was aborted before its cut-over',
    });
  });
});
