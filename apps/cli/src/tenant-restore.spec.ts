import { main } from './main';
import type { TimeContext } from './restore-time';
import { copiesTable, restorableText, restoreBody, sourceText, type RestoreCopyView } from './tenant-restore';
import { FakeCli } from './testing/fake-api';

const ID = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';
const NOW = new Date('2026-12-08T09:00:00Z');
const BERLIN: TimeContext = { now: NOW, zone: 'Europe/Berlin' };

const COPY: RestoreCopyView = {
  run: 4,
  status: 'AVAILABLE',
  source: { pointInTime: '2026-12-07T09:32:00.000Z' },
  region: 'us-east-1',
  instanceIdentifier: 'silo-restore-acme-4',
  readerSecretName: 'silo/restore-acme-4/app',
  endpoint: { host: 'silo-restore-acme-4.local', port: 5432, database: 'app' },
  createdAt: '2026-12-08T09:10:00.000Z',
  expiresAt: '2026-12-11T09:10:00.000Z',
  removedAt: null,
};

const SNAPSHOTS = [
  {
    identifier: 'rds:silo-acme-2026-12-07-03-00',
    type: 'automated',
    status: 'available',
    createdAt: '2026-12-07T03:00:00.000Z',
    restorable: true,
    export: null,
  },
  {
    identifier: 'silo-acme-manual-20261208-085900',
    type: 'manual',
    status: 'creating',
    createdAt: null,
    restorable: false,
    export: null,
  },
];

describe('restoreBody', () => {
  it('sends the one source given, --to as the UTC moment it resolves to, and says what it resolved to', () => {
    expect(restoreBody({ to: 'yesterday 10:32', mode: 'copy' }, BERLIN)).toEqual({
      ok: true,
      body: { source: { pointInTime: '2026-12-07T09:32:00Z' }, mode: 'copy' },
      note: 'restore as of 2026-12-07T09:32:00Z ("yesterday 10:32" in Europe/Berlin), mode copy',
    });
    expect(restoreBody({ to: '2026-12-07T10:32:00+01:00', mode: 'replace' }, BERLIN)).toEqual({
      ok: true,
      body: { source: { pointInTime: '2026-12-07T09:32:00Z' }, mode: 'replace' },
      note: 'restore as of 2026-12-07T09:32:00Z, mode replace',
    });
    expect(restoreBody({ latest: true, mode: 'replace', rollout: true }, BERLIN)).toMatchObject({
      ok: true,
      body: { source: { latest: true }, mode: 'replace', rollout: true },
    });
    expect(restoreBody({ latest: true, mode: 'copy' }, BERLIN)).toEqual({
      ok: true,
      body: { source: { latest: true }, mode: 'copy' },
      note: null,
    });
    expect(restoreBody({ snapshot: 'rds:silo-acme-2026-12-07-03-00', mode: 'copy' }, BERLIN)).toMatchObject({
      body: { source: { snapshot: 'rds:silo-acme-2026-12-07-03-00' } },
    });
  });

  it('refuses no source, two, an empty snapshot and a time it cannot read, naming the flag', () => {
    expect(restoreBody({ mode: 'copy' }, BERLIN)).toEqual({
      ok: false,
      problem: 'tenants restore needs --to <time>, --latest or --snapshot <id>',
    });
    expect(restoreBody({ to: 'yesterday 10:32', latest: true, mode: 'copy' }, BERLIN)).toEqual({
      ok: false,
      problem: 'give one of --to, --latest and --snapshot, not --to and --latest',
    });
    expect(restoreBody({ snapshot: ' ', mode: 'copy' }, BERLIN)).toMatchObject({
      problem: '--snapshot needs a snapshot id (silo tenants snapshots <id> lists them)',
    });
    expect(restoreBody({ to: 'yesterday 25:00', mode: 'copy' }, BERLIN)).toEqual({
      ok: false,
      problem: '--to "yesterday 25:00": 25:00 is not a time of day',
    });
  });
});

describe('rendering restores and snapshots', () => {
  it('names each source, one it does not know by its fields', () => {
    expect(sourceText({ pointInTime: '2026-12-07T09:32:00.000Z' })).toBe(
      'pointInTime 2026-12-07T09:32:00.000Z',
    );
    expect(sourceText({ latest: true })).toBe('latest');
    expect(sourceText({ snapshot: 'rds:x' })).toBe('snapshot rds:x');
    expect(sourceText({ replacedAt: '2026-12-08T09:00:00.000Z' })).toBe(
      'replacedAt 2026-12-08T09:00:00.000Z',
    );
  });

  it('lists copies with their reader’s secret and when they go', () => {
    expect(
      copiesTable([
        COPY,
        { ...COPY, run: 2, status: 'REMOVED', removedAt: '2026-12-05T10:00:00.000Z' },
      ]).split('\n'),
    ).toEqual([
      'RUN  STATUS     SOURCE                                INSTANCE             REGION     READER SECRET            EXPIRES',
      '4    AVAILABLE  pointInTime 2026-12-07T09:32:00.000Z  silo-restore-acme-4  us-east-1  silo/restore-acme-4/app  2026-12-11T09:10:00.000Z',
      '2    REMOVED    pointInTime 2026-12-07T09:32:00.000Z  silo-restore-acme-4  us-east-1  silo/restore-acme-4/app  removed 2026-12-05T10:00:00.000Z',
    ]);
    expect(copiesTable([])).toBe('no restore copies');
  });

  it('gives the window in UTC and in the zone, or why there is none, then the snapshots', () => {
    const acme = { id: ID, slug: 'acme', status: 'ACTIVE', placement: 'instance' };
    const text = restorableText(
      { ...acme, restorable: { earliest: '2026-11-03T09:00:00.000Z', latest: '2026-12-08T08:55:00.000Z' } },
      SNAPSHOTS,
      'Europe/Berlin',
    );
    expect(text.split('\n')).toEqual([
      "acme: point in time from 2026-11-03T09:00:00Z to 2026-12-08T08:55:00Z (an estimate: the restore checks RDS's own window)",
      '  in Europe/Berlin: 2026-11-03 10:00 to 2026-12-08 09:55',
      '',
      'IDENTIFIER                        TYPE       STATUS     CREATED                   RESTORABLE',
      'rds:silo-acme-2026-12-07-03-00    automated  available  2026-12-07T03:00:00.000Z  yes',
      'silo-acme-manual-20261208-085900  manual     creating   -                         no',
    ]);
    expect(restorableText({ ...acme, placement: 'pool', restorable: null }, [], 'UTC')).toBe(
      'acme: no point-in-time window: a pool tenant has no instance of its own (its restores are not made yet)\n\nno snapshots',
    );
    expect(restorableText({ ...acme, status: 'DELETED', restorable: null }, [], 'UTC')).toMatch(
      /no point-in-time window: it is DELETED/,
    );
    expect(restorableText({ ...acme, restorable: null }, [], 'UTC')).toMatch(
      /its tier keeps no backups, or it is too new to have any/,
    );
  });
});

describe('silo tenants restore, restores, restore-remove, restorable, snapshots, snapshot, undelete', () => {
  const cli = new FakeCli();
  const { env } = cli;
  beforeEach(() => {
    cli.start();
    jest.spyOn(Date, 'now').mockReturnValue(NOW.getTime());
  });
  afterEach(() => cli.stop());

  type Step = [string, string];
  const restoreChange = (status: string, steps: Step[], error: unknown = null) => ({
    kind: 'restore',
    run: 4,
    from: 'pointInTime 2026-12-07T09:32:00.000Z',
    to: 'copy',
    status,
    steps: steps.map(([name, s]) => ({ name, saga: 'restore', status: s })),
    error,
  });
  const view = (change: unknown) => ({
    id: ID,
    slug: 'acme',
    name: 'Acme',
    tier: 'enterprise',
    status: 'ACTIVE',
    placement: 'instance',
    region: 'us-east-1',
    createdAt: '',
    firingAlarms: 0,
    database: null,
    provisioning: { steps: [], lastError: null },
    restorable: { earliest: '2026-11-03T09:00:00.000Z', latest: '2026-12-08T08:55:00.000Z' },
    change,
  });
  const DONE: Step[] = [
    ['copy-credentials', 'done'],
    ['restore-instance', 'done'],
    ['restore-available', 'done'],
    ['reader-login', 'done'],
    ['record-copy', 'done'],
  ];

  it('refuses bad usage (exit 2) before calling the API, naming the problem', async () => {
    cli.api();
    const cases: [string[], string][] = [
      [['tenants', 'restore', 'acme'], 'tenants restore needs --to <time>, --latest or --snapshot <id>'],
      [
        ['tenants', 'restore', 'acme', '--to', 'yesterday 10:32', '--snapshot', 's1'],
        'not --to and --snapshot',
      ],
      [['tenants', 'restore', 'acme', '--to', 'last week'], '--to "last week": not a time; give ISO 8601'],
      [['tenants', 'restore', 'acme', '--to', 'today 23:00', '--tz', 'UTC'], 'is in the future'],
      [['tenants', 'restore', 'acme', '--latest', '--tz', 'Mars/Olympus'], '--tz must be an IANA time zone'],
      [
        ['tenants', 'restore', 'acme', '--latest', '--mode', 'overwrite'],
        '--mode must be one of copy, replace',
      ],
      [['tenants', 'restore', '--latest'], 'tenants restore needs an id or slug'],
      [['tenants', 'restore-remove', 'acme'], 'tenants restore-remove needs 2 arguments'],
      [['tenants', 'restore-remove', 'acme', 'four'], "a restore's run is a positive whole number"],
      [['tenants', 'snapshot'], 'tenants snapshot needs an id or slug'],
      [['tenants', 'restorable', 'acme', '--tz', 'nowhere'], '--tz must be an IANA time zone'],
    ];
    for (const [args, message] of cases) {
      cli.stderr = '';
      expect({ args, code: await main(args, env) }).toEqual({ args, code: 2 });
      expect(cli.stderr).toContain(message);
    }
    expect(cli.calls).toEqual([]);
  });

  it('sends the resolved time, says it first, and with --watch follows the restore to its copy', async () => {
    cli.api(
      [202, view(restoreChange('RUNNING', []))],
      [
        200,
        view(
          restoreChange('RUNNING', [
            ['copy-credentials', 'done'],
            ['restore-instance', 'waiting'],
          ]),
        ),
      ],
      [200, view(restoreChange('SUCCEEDED', DONE))],
      [200, { items: [COPY] }],
    );
    const code = await main(
      [
        'tenants',
        'restore',
        'acme',
        '--to',
        'yesterday 10:32',
        '--tz',
        'Europe/Berlin',
        '--mode',
        'copy',
        '--watch',
      ],
      env,
    );
    expect(code).toBe(0);
    expect(cli.calls.map((c) => [c.method, c.url, c.body])).toEqual([
      [
        'POST',
        'http://silo.test/v1/tenants/acme/restores',
        { source: { pointInTime: '2026-12-07T09:32:00Z' }, mode: 'copy' },
      ],
      ['GET', `http://silo.test/v1/tenants/${ID}`, undefined],
      ['GET', `http://silo.test/v1/tenants/${ID}`, undefined],
      ['GET', `http://silo.test/v1/tenants/${ID}/restores`, undefined],
    ]);
    expect(cli.stderr.split('\n')[0]).toBe(
      'acme: restore as of 2026-12-07T09:32:00Z ("yesterday 10:32" in Europe/Berlin), mode copy',
    );
    expect(cli.stderr).toContain('acme: restore-instance: waiting\n');
    expect(cli.stderr).toContain('acme: record-copy: done\n');
    expect(cli.stdout).toContain('change 4 (restore pointInTime 2026-12-07T09:32:00.000Z → copy): SUCCEEDED');
    expect(cli.stdout).toContain('  restore/reader-login: done');
    expect(cli.stdout).toContain(
      [
        'restore copy 4 (pointInTime 2026-12-07T09:32:00.000Z): AVAILABLE',
        '  instance silo-restore-acme-4 in us-east-1, silo-restore-acme-4.local:5432/app',
        '  read-only login in secret silo/restore-acme-4/app',
        '  removed after 2026-12-11T09:10:00.000Z',
      ].join('\n'),
    );
  });

  it('exits 1 when the watched restore fails, naming the error; --output json prints the tenant only', async () => {
    const failed = restoreChange(
      'FAILED',
      [
        ['copy-credentials', 'done'],
        ['restore-instance', 'failed'],
      ],
      {
        code: 'RESTORE_FAILED',
        message: 'RDS refused the restore',
        step: 'restore-instance',
      },
    );
    cli.api([202, view(restoreChange('RUNNING', []))], [200, view(failed)]);
    expect(await main(['tenants', 'restore', ID, '--latest', '--watch'], env)).toBe(1);
    expect(cli.calls[0].body).toEqual({ source: { latest: true }, mode: 'copy' });
    expect(cli.stdout).toContain('  failed at restore-instance: RESTORE_FAILED: RDS refused the restore');

    cli.stdout = '';
    cli.api([202, view(restoreChange('RUNNING', []))], [200, view(restoreChange('SUCCEEDED', DONE))]);
    expect(
      await main(['tenants', 'restore', 'acme', '--snapshot', 'rds:x', '--watch', '--output', 'json'], env),
    ).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ change: { kind: 'restore', status: 'SUCCEEDED' } });
  });

  it('passes mode replace through and renders the API’s refusals (exit 1)', async () => {
    cli.api([
      422,
      {
        title: 'Unprocessable Content',
        status: 422,
        detail:
          'restores of schema tenants are not made yet: only a tenant on an instance of its own is restored',
        rule: 'restore-not-supported',
      },
    ]);
    expect(await main(['tenants', 'restore', 'acme', '--latest', '--mode', 'replace'], env)).toBe(1);
    expect(cli.calls[0].body).toEqual({ source: { latest: true }, mode: 'replace' });
    expect(cli.stderr).toBe(
      'silo: Unprocessable Content: restores of schema tenants are not made yet: only a tenant on an instance of its own is restored\n',
    );

    cli.stderr = '';
    cli.api([
      422,
      {
        title: 'Unprocessable Content',
        status: 422,
        detail:
          "2026-10-01T08:00:00.000Z is outside acme's restorable window: 2026-11-03T09:00:00.000Z to 2026-12-08T08:55:00.000Z",
        rule: 'outside-restore-window',
        earliest: '2026-11-03T09:00:00.000Z',
        latest: '2026-12-08T08:55:00.000Z',
      },
    ]);
    expect(await main(['tenants', 'restore', 'acme', '--to', '2026-10-01T08:00:00Z'], env)).toBe(1);
    expect(cli.stderr).toContain(
      "outside acme's restorable window: 2026-11-03T09:00:00.000Z to 2026-12-08T08:55:00.000Z",
    );
  });

  it('lists copies, removes one, and shows the restorable window with the snapshots', async () => {
    cli.api([200, { items: [COPY] }]);
    expect(await main(['tenants', 'restores', 'acme'], env)).toBe(0);
    expect(cli.calls[0]).toMatchObject({ method: 'GET', url: 'http://silo.test/v1/tenants/acme/restores' });
    expect(cli.stdout).toMatch(
      /^RUN {2}STATUS .*READER SECRET +EXPIRES\n4 {4}AVAILABLE .*silo\/restore-acme-4\/app/,
    );

    cli.stdout = '';
    // The API answers the copy with its removal due now; the worker removes it soon after.
    cli.api([202, { ...COPY, expiresAt: NOW.toISOString() }]);
    expect(await main(['tenants', 'restore-remove', 'acme', '4'], env)).toBe(0);
    expect(cli.calls[1]).toMatchObject({
      method: 'DELETE',
      url: 'http://silo.test/v1/tenants/acme/restores/4',
    });
    expect(cli.stdout).toContain('restore copy 4 (pointInTime 2026-12-07T09:32:00.000Z): AVAILABLE');
    expect(cli.stdout).toContain('  its removal runs now: tenants restores acme shows it REMOVED once gone');
    expect(cli.stdout).toContain(`  removed after ${NOW.toISOString()}`);

    cli.stdout = '';
    cli.api([200, view(null)], [200, { items: SNAPSHOTS }]);
    expect(await main(['tenants', 'restorable', 'acme', '--tz', 'Europe/Berlin'], env)).toBe(0);
    expect(cli.calls.slice(2).map((c) => c.url)).toEqual([
      'http://silo.test/v1/tenants/acme',
      `http://silo.test/v1/tenants/${ID}/snapshots`,
    ]);
    expect(cli.stdout).toContain('  in Europe/Berlin: 2026-11-03 10:00 to 2026-12-08 09:55');
    expect(cli.stdout).toContain('rds:silo-acme-2026-12-07-03-00    automated  available');

    cli.stdout = '';
    cli.api([200, view(null)], [200, { items: SNAPSHOTS }]);
    expect(await main(['tenants', 'restorable', 'acme', '--output', 'json'], env)).toBe(0);
    expect(JSON.parse(cli.stdout)).toEqual({
      id: ID,
      slug: 'acme',
      restorable: { earliest: '2026-11-03T09:00:00.000Z', latest: '2026-12-08T08:55:00.000Z' },
      snapshots: SNAPSHOTS,
    });
  });

  it('lists snapshots and takes one', async () => {
    cli.api(
      [200, { items: SNAPSHOTS }],
      [202, { identifier: 'silo-acme-manual-20261208-090000', status: 'requested' }],
    );
    expect(await main(['tenants', 'snapshots', 'acme'], env)).toBe(0);
    expect(cli.stdout).toContain('silo-acme-manual-20261208-085900  manual     creating   -');
    expect(await main(['tenants', 'snapshot', 'acme'], env)).toBe(0);
    expect(cli.calls.map((c) => [c.method, c.url])).toEqual([
      ['GET', 'http://silo.test/v1/tenants/acme/snapshots'],
      ['POST', 'http://silo.test/v1/tenants/acme/snapshots'],
    ]);
    expect(cli.stdout).toContain(
      'snapshot silo-acme-manual-20261208-090000 requested: tenants snapshots acme lists it once it is taken',
    );
  });

  it('asks for an undelete and, with --watch, follows the tenant back to ACTIVE', async () => {
    const back = (status: string) => ({
      ...view(null),
      status,
      provisioning: { steps: [], lastError: null },
    });
    cli.api([202, back('PROVISIONING')], [200, back('ACTIVE')]);
    expect(await main(['tenants', 'undelete', 'acme', '--watch'], env)).toBe(0);
    expect(cli.calls.map((c) => [c.method, c.url])).toEqual([
      ['POST', 'http://silo.test/v1/tenants/acme/undelete'],
      ['GET', `http://silo.test/v1/tenants/${ID}`],
    ]);
    expect(cli.stdout).toContain('status ACTIVE');

    // An answer that runs a change is followed to the change's end.
    cli.stdout = '';
    const undelete = (status: string) => ({
      ...restoreChange(status, DONE),
      kind: 'undelete',
      to: 'instance',
    });
    cli.api([202, view(undelete('RUNNING'))], [200, view(undelete('FAILED'))]);
    expect(await main(['tenants', 'undelete', 'acme', '--watch'], env)).toBe(1);

    // Not a tenant: printed as it came; the API's refusal as any other.
    cli.stdout = '';
    cli.api([202, { status: 'requested' }]);
    expect(await main(['tenants', 'undelete', 'acme'], env)).toBe(0);
    expect(JSON.parse(cli.stdout)).toEqual({ status: 'requested' });
    cli.api([404, { title: 'Not Found', status: 404, detail: 'no tenant has the id or slug acme' }]);
    expect(await main(['tenants', 'undelete', 'acme'], env)).toBe(1);
    expect(cli.stderr).toContain('silo: Not Found: no tenant has the id or slug acme');
  });
});
