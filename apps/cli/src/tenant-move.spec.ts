import { main } from './main';
import { FakeCli } from './testing/fake-api';
import { stepChanges } from './tenant-change-watch';
import { moveBody, moveOutcome, watchMove, type MoveChange, type MoveTenant } from './tenant-move';

const ID = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';

function change(over: Partial<MoveChange> = {}): MoveChange {
  return {
    kind: 'move',
    run: 2,
    from: 'pool@us-east-1',
    to: 'instance@eu-central-1',
    status: 'RUNNING',
    steps: [],
    error: null,
    toTier: 'enterprise',
    abortRequested: false,
    cutOver: null,
    sourceRemovalDueAt: null,
    ...over,
  };
}

const tenantWith = (c: MoveChange | null) => ({ id: ID, slug: 'acme', change: c });

const steps = (...s: [string, string][]) => s.map(([name, status]) => ({ name, saga: 'move', status }));

const SWITCHED = change({
  status: 'SUCCEEDED',
  steps: steps(
    ['target-credentials', 'done'],
    ['target-instance', 'done'],
    ['cut-over', 'done'],
    ['clean-up', 'done'],
  ),
  cutOver: {
    frozenForMs: 180,
    pausedForMs: 240,
    tables: [
      { table: 'notes', rows: 12 },
      { table: 'users', rows: 1 },
    ],
  },
  sourceRemovalDueAt: '2026-12-08T11:00:00.000Z',
});

describe('moveBody', () => {
  it('sends only the flags given, and nothing when none is', () => {
    expect(moveBody({ tier: 'enterprise', placement: undefined, region: undefined })).toEqual({
      tier: 'enterprise',
    });
    expect(moveBody({ placement: 'pool', region: 'eu-central-1', tier: 'starter' })).toEqual({
      placement: 'pool',
      region: 'eu-central-1',
      tier: 'starter',
    });
    expect(moveBody({ placement: undefined })).toBeNull();
  });
});

describe('stepChanges', () => {
  it('names every step the first time, then only those whose status changed', () => {
    const first = change({ steps: steps(['target-credentials', 'done'], ['target-instance', 'running']) });
    expect(stepChanges(null, first)).toEqual(['target-credentials: done', 'target-instance: running']);
    const next = change({
      steps: steps(
        ['target-credentials', 'done'],
        ['target-instance', 'waiting'],
        ['target-available', 'pending'],
      ),
    });
    expect(stepChanges(first, next)).toEqual(['target-instance: waiting', 'target-available: pending']);
    expect(stepChanges(next, next)).toEqual([]);
  });
});

describe('moveOutcome', () => {
  it('gives the write pause, the copy and the source removal of a switched move', () => {
    expect(moveOutcome(SWITCHED)).toEqual([
      'writes paused 240 ms (source frozen 180 ms), 13 rows in 2 tables copied',
      'source removed after 2026-12-08T11:00:00.000Z',
    ]);
  });

  it('gives the error of a failed move, and an abort asked for while it runs', () => {
    expect(
      moveOutcome(
        change({
          status: 'FAILED',
          abortRequested: true,
          error: {
            code: 'MOVE_ABORTED',
            message: 'the move was aborted before its cut-over',
            step: 'target-instance',
          },
        }),
      ),
    ).toEqual(['failed at target-instance: MOVE_ABORTED: the move was aborted before its cut-over']);
    expect(moveOutcome(change({ abortRequested: true }))).toEqual(['abort requested']);
    expect(moveOutcome(change())).toEqual([]);
  });
});

describe('watchMove', () => {
  const watcher = (reads: MoveTenant[]) => {
    const events: string[] = [];
    const progress: string[] = [];
    let sleeps = 0;
    return {
      events,
      progress,
      sleeps: () => sleeps,
      watch: {
        read: (id: string) => {
          expect(id).toBe(ID);
          const next = reads.shift();
          if (!next) throw new Error('read past the end of the move');
          return Promise.resolve(next);
        },
        event: (line: string) => events.push(line),
        progress: (line: string) => progress.push(line),
        sleep: () => {
          sleeps += 1;
          return Promise.resolve();
        },
      },
    };
  };

  it('follows the move to its end, a line for each step as it changes', async () => {
    const w = watcher([
      tenantWith(change({ steps: steps(['target-credentials', 'done'], ['target-instance', 'running']) })),
      tenantWith(change({ steps: steps(['target-credentials', 'done'], ['target-instance', 'running']) })),
      tenantWith(SWITCHED),
    ]);
    const last = await watchMove(tenantWith(change()), w.watch);
    expect(last.change).toBe(SWITCHED);
    expect(w.events).toEqual([
      'acme: target-credentials: done',
      'acme: target-instance: running',
      'acme: target-instance: done',
      'acme: cut-over: done',
      'acme: clean-up: done',
    ]);
    expect(w.sleeps()).toBe(3);
    expect(w.progress.at(-1)).toBe('acme: move pool@us-east-1 → instance@eu-central-1 SUCCEEDED  4/4 steps');
  });

  it('stops at a failure, and when the tenant’s change is another than the one watched', async () => {
    const failed = change({
      status: 'FAILED',
      error: { code: 'MOVE_ABORTED', message: 'aborted', step: 'target-place' },
    });
    const w = watcher([tenantWith(failed)]);
    expect((await watchMove(tenantWith(change()), w.watch)).change).toBe(failed);

    const later = watcher([tenantWith(change({ run: 3 }))]);
    expect((await watchMove(tenantWith(change()), later.watch)).change?.run).toBe(3);
    expect(later.events).toEqual([]);
    expect((await watchMove(tenantWith(null), watcher([]).watch)).change).toBeNull();
  });
});

describe('silo tenants move and move-abort', () => {
  const cli = new FakeCli();
  const { env } = cli;
  const api = (...answers: [number, unknown][]) => cli.api(...answers);
  beforeEach(() => cli.start());
  afterEach(() => cli.stop());

  const view = (c: MoveChange) => ({
    ...tenantWith(c),
    name: 'Acme',
    tier: 'starter',
    status: 'ACTIVE',
    region: 'us-east-1',
    createdAt: '',
    firingAlarms: 0,
    database: null,
    provisioning: { steps: [], lastError: null },
  });

  it('refuses a move without a place, or with an unknown placement or tier (exit 2), before calling the API', async () => {
    api();
    expect(await main(['tenants', 'move', 'acme'], env)).toBe(2);
    expect(cli.stderr).toContain('tenants move needs --placement, --region or --tier');
    expect(await main(['tenants', 'move', 'acme', '--placement', 'shared'], env)).toBe(2);
    expect(cli.stderr).toContain('--placement must be one of instance, schema, pool, not "shared"');
    expect(await main(['tenants', 'move', 'acme', '--tier', 'gold'], env)).toBe(2);
    expect(await main(['tenants', 'move', '--tier', 'pro'], env)).toBe(2);
    expect(await main(['tenants', 'move-abort'], env)).toBe(2);
    expect(cli.calls).toEqual([]);
  });

  it('asks for the move and, with --watch, follows it to the write pause', async () => {
    api(
      [202, view(change())],
      [200, view(change({ steps: steps(['target-credentials', 'running']) }))],
      [200, view(SWITCHED)],
    );
    const code = await main(
      ['tenants', 'move', 'acme', '--region', 'eu-central-1', '--tier', 'enterprise', '--watch'],
      env,
    );
    expect(code).toBe(0);
    expect(cli.calls.map((c) => [c.method, c.url, c.body])).toEqual([
      ['POST', 'http://silo.test/v1/tenants/acme/move', { region: 'eu-central-1', tier: 'enterprise' }],
      ['GET', `http://silo.test/v1/tenants/${ID}`, undefined],
      ['GET', `http://silo.test/v1/tenants/${ID}`, undefined],
    ]);
    expect(cli.stderr).toContain('acme: target-credentials: running\n');
    expect(cli.stderr).toContain('acme: cut-over: done\n');
    expect(cli.stdout).toContain(
      'change 2 (move pool@us-east-1 → instance@eu-central-1, tier enterprise): SUCCEEDED',
    );
    expect(cli.stdout).toContain('  writes paused 240 ms (source frozen 180 ms), 13 rows in 2 tables copied');
  });

  it('exits 1 when the watched move fails, naming the error; prints the API’s JSON with --output json', async () => {
    const failed = change({
      status: 'FAILED',
      abortRequested: true,
      error: {
        code: 'MOVE_ABORTED',
        message: 'the move was aborted before its cut-over',
        step: 'target-instance',
      },
    });
    api([202, view(change({ abortRequested: true }))], [200, view(failed)]);
    expect(await main(['tenants', 'move-abort', ID, '--watch'], env)).toBe(1);
    expect(cli.calls[0]).toMatchObject({
      method: 'POST',
      url: `http://silo.test/v1/tenants/${ID}/move/abort`,
    });
    expect(cli.stdout).toContain(
      'failed at target-instance: MOVE_ABORTED: the move was aborted before its cut-over',
    );

    cli.stdout = '';
    api([202, view(change({ abortRequested: true }))]);
    expect(await main(['tenants', 'move-abort', 'acme', '--output', 'json'], env)).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ change: { kind: 'move', abortRequested: true } });
  });

  it('reports the API’s refusal with its title and detail (exit 1), and a role it refuses (exit 3)', async () => {
    api([
      422,
      {
        title: 'Unprocessable Content',
        status: 422,
        detail: 'acme already lives in the pool placement in us-east-1',
        rule: 'same-place',
      },
    ]);
    expect(await main(['tenants', 'move', 'acme', '--region', 'us-east-1'], env)).toBe(1);
    expect(cli.stderr).toBe(
      'silo: Unprocessable Content: acme already lives in the pool placement in us-east-1\n',
    );
    api([403, { title: 'Forbidden', status: 403, detail: 'needs admin' }]);
    expect(await main(['tenants', 'move-abort', 'acme'], env)).toBe(3);
  });
});
