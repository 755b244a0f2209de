import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { TIER_NAMES } from '../../../../libs/core/src/tenant/tier';
import type { Rollout, Rollouts, SchemaVersions } from '../api';
import type { Session } from '../main';
import { Loadable, ProblemView, StatusBadge } from '../ui';

type RolloutAction = 'pause' | 'resume' | 'abort';

/** What a rollout's status allows: pause a RUNNING one, resume a PAUSED or FAILED one, abort an open one. */
function rolloutActions(r: Pick<Rollout, 'status'>): RolloutAction[] {
  switch (r.status) {
    case 'RUNNING':
      return ['pause', 'abort'];
    case 'PAUSED':
      return ['resume', 'abort'];
    case 'FAILED':
      return ['resume'];
    default:
      return [];
  }
}

function useRolloutAction(session: Session) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, action }: { id: string; action: RolloutAction }) =>
      session.api<Rollout>('POST', `/v1/schema-rollouts/${id}/${action}`),
    onSettled: (_data, _error, { id }) => {
      void client.invalidateQueries({ queryKey: ['rollouts'] });
      void client.invalidateQueries({ queryKey: ['rollout', id] });
      void client.invalidateQueries({ queryKey: ['schema-versions'] });
    },
  });
}

function ActionButtons({
  rollout,
  act,
}: {
  rollout: Rollout | Rollouts['items'][number];
  act: ReturnType<typeof useRolloutAction>;
}) {
  return (
    <>
      {rolloutActions(rollout).map((action) => (
        <button
          key={action}
          className={action === 'abort' ? 'danger' : undefined}
          disabled={act.isPending}
          onClick={() => act.mutate({ id: rollout.id, action })}
        >
          {action === 'resume' && rollout.pausedBecause === 'approval' ? 'approve next wave' : action}
        </button>
      ))}
    </>
  );
}

/** One rollout: its settings, progress per wave, failed tenants with what failed, its audit trail. */
export function RolloutPage({ session, id }: { session: Session; id: string }) {
  const query = useQuery({
    queryKey: ['rollout', id],
    queryFn: () => session.api<Rollout>('GET', `/v1/schema-rollouts/${encodeURIComponent(id)}`),
    refetchInterval: (q) =>
      q.state.data && !['RUNNING', 'PAUSED'].includes(q.state.data.status) ? 15_000 : 2000,
  });
  const act = useRolloutAction(session);
  return (
    <Loadable query={query}>
      {(r) => (
        <section>
          <h1>
            Rollout to {r.targetVersion} <StatusBadge status={r.status} />
          </h1>
          <p className="muted">
            canary {r.canary} · waves {r.waves.map((w) => `${w}%`).join(', ')} · {r.maxConcurrency} at once ·
            pauses after {r.failureThreshold} failed ·{' '}
            {r.pauseBetweenWaves ? 'approval after each wave' : 'no approval gate'} ·{' '}
            {r.tiers ? r.tiers.join(', ') : 'every tier'} · started by {r.createdBy}{' '}
            {new Date(r.createdAt).toLocaleString()}
          </p>
          {r.pausedReason && <p className="problem">{r.pausedReason}</p>}
          <ProblemView error={act.error} />
          {session.isAdmin && (
            <div className="actions">
              <ActionButtons rollout={r} act={act} />
            </div>
          )}
          <p>
            {r.counts.succeeded} succeeded · {r.counts.running} running · {r.counts.pending} pending ·{' '}
            {r.counts.failed} failed · {r.counts.skipped} skipped
          </p>
          {r.plan.length === 0 && <p className="muted">Every tenant was already at this version.</p>}
          <table className="waves">
            <thead>
              <tr>
                <th>Wave</th>
                <th>Tenants</th>
                <th>Done</th>
                <th>Running</th>
                <th>Failed</th>
                <th>Progress</th>
              </tr>
            </thead>
            <tbody>
              {r.plan.map((w) => {
                const done = w.counts.succeeded + w.counts.skipped;
                return (
                  <tr key={w.index} className={`wave wave-${w.index}`}>
                    <td>{w.kind === 'canary' ? 'canary' : `${w.percent}%`}</td>
                    <td>{w.tenants.length}</td>
                    <td>{done}</td>
                    <td>{w.counts.running}</td>
                    <td>{w.counts.failed}</td>
                    <td>
                      <meter min={0} max={Math.max(w.tenants.length, 1)} value={done} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <h2>Failed tenants</h2>
          {r.failedTenants.length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <ul>
              {r.failedTenants.map((f) => (
                <li key={f.tenantId}>
                  <a href={`#/tenants/${f.tenantId}`}>{f.slug}</a> (wave {f.wave}): {f.failingMigration ?? ''}{' '}
                  {f.sqlState ?? ''} {f.message ?? ''}
                </li>
              ))}
            </ul>
          )}
          <h2>Audit trail</h2>
          <table className="events">
            <tbody>
              {r.events.map((e, i) => (
                <tr key={i}>
                  <td>{new Date(e.at).toLocaleString()}</td>
                  <td>{e.type}</td>
                  <td>{e.message}</td>
                  <td>{e.actor}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </Loadable>
  );
}

/** How many ACTIVE and SUSPENDED tenants are at each schema version, and who is behind the newest. */
function SchemaSkew({ session }: { session: Session }) {
  const query = useQuery({
    queryKey: ['schema-versions'],
    queryFn: () => session.api<SchemaVersions>('GET', '/v1/schema-versions'),
    refetchInterval: 5000,
  });
  return (
    <Loadable query={query}>
      {(s) => {
        const total = s.versions.reduce((n, v) => n + v.tenants, 0);
        return (
          <>
            <p>
              Newest version <strong>{s.newest}</strong>:{' '}
              {s.behind.count === 0
                ? `all ${total} tenants are at it.`
                : `${s.behind.count} of ${total} tenants behind.`}
            </p>
            <table className="skew">
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Tenants</th>
                  <th>Share</th>
                </tr>
              </thead>
              <tbody>
                {s.versions.map((v) => (
                  <tr key={v.version ?? 'none'} data-version={v.version ?? 'none'}>
                    <td>
                      {v.version ?? 'none'}
                      {v.version === s.newest && <span className="muted"> (newest)</span>}
                    </td>
                    <td>{v.tenants}</td>
                    <td>
                      <meter min={0} max={Math.max(total, 1)} value={v.tenants} />{' '}
                      {total ? Math.round((v.tenants / total) * 100) : 0}%
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {s.behind.count > 0 && (
              <details>
                <summary>Tenants behind ({s.behind.count})</summary>
                <ul className="behind">
                  {s.behind.items.map((t) => (
                    <li key={t.id}>
                      <a href={`#/tenants/${t.id}`}>{t.slug}</a> {t.tier}, {t.status}, at{' '}
                      {t.schemaVersion ?? 'none'}
                    </li>
                  ))}
                  {s.behind.items.length < s.behind.count && (
                    <li className="muted">and {s.behind.count - s.behind.items.length} more</li>
                  )}
                </ul>
              </details>
            )}
          </>
        );
      }}
    </Loadable>
  );
}

/** POST /v1/schema-rollouts with what its request schema takes; the API validates (400 names the field). */
function StartRollout({ session, newest }: { session: Session; newest: string | undefined }) {
  const client = useQueryClient();
  const [targetVersion, setTargetVersion] = useState('');
  const [canary, setCanary] = useState('1');
  const [waves, setWaves] = useState('100');
  const [maxConcurrency, setMaxConcurrency] = useState('4');
  const [failureThreshold, setFailureThreshold] = useState('1');
  const [pauseBetweenWaves, setPauseBetweenWaves] = useState(false);
  const [tiers, setTiers] = useState<string[]>([]);
  const start = useMutation({
    mutationFn: () =>
      session.api<Rollout>('POST', '/v1/schema-rollouts', {
        ...(targetVersion.trim() ? { targetVersion: targetVersion.trim() } : {}),
        canary: Number(canary),
        waves: waves
          .split(/[\s,%]+/)
          .filter(Boolean)
          .map(Number),
        maxConcurrency: Number(maxConcurrency),
        failureThreshold: Number(failureThreshold),
        pauseBetweenWaves,
        ...(tiers.length ? { tiers } : {}),
      }),
    onSuccess: (rollout) => {
      void client.invalidateQueries({ queryKey: ['rollouts'] });
      location.hash = `#/rollouts/${rollout.id}`;
    },
  });
  return (
    <form
      className="start-rollout"
      onSubmit={(e) => {
        e.preventDefault();
        start.mutate();
      }}
    >
      <div className="fields">
        <label>
          Target version
          <input
            name="targetVersion"
            value={targetVersion}
            onChange={(e) => setTargetVersion(e.target.value)}
            placeholder={newest ? `newest (${newest})` : 'newest'}
          />
        </label>
        <label>
          Canary tenants
          <input
            name="canary"
            type="number"
            min={0}
            max={1000}
            value={canary}
            onChange={(e) => setCanary(e.target.value)}
          />
        </label>
        <label>
          Waves (cumulative %)
          <input
            name="waves"
            value={waves}
            onChange={(e) => setWaves(e.target.value)}
            placeholder="25, 100"
          />
        </label>
        <label>
          At once
          <input
            name="maxConcurrency"
            type="number"
            min={1}
            max={100}
            value={maxConcurrency}
            onChange={(e) => setMaxConcurrency(e.target.value)}
          />
        </label>
        <label>
          Pause after failures
          <input
            name="failureThreshold"
            type="number"
            min={1}
            value={failureThreshold}
            onChange={(e) => setFailureThreshold(e.target.value)}
          />
        </label>
      </div>
      <div className="fields">
        <label className="check">
          <input
            name="pauseBetweenWaves"
            type="checkbox"
            checked={pauseBetweenWaves}
            onChange={(e) => setPauseBetweenWaves(e.target.checked)}
          />
          Approval gate: pause after each wave until approved
        </label>
        <fieldset>
          <legend>Tiers (none: every tier)</legend>
          {TIER_NAMES.map((t) => (
            <label key={t} className="check">
              <input
                type="checkbox"
                name={`tier-${t}`}
                checked={tiers.includes(t)}
                onChange={(e) => setTiers(e.target.checked ? [...tiers, t] : tiers.filter((x) => x !== t))}
              />
              {t}
            </label>
          ))}
        </fieldset>
      </div>
      <button type="submit" disabled={start.isPending}>
        Start rollout
      </button>
      <ProblemView error={start.error} />
    </form>
  );
}

export function RolloutsPage({ session }: { session: Session }) {
  const query = useQuery({
    queryKey: ['rollouts'],
    queryFn: () => session.api<Rollouts>('GET', '/v1/schema-rollouts'),
    refetchInterval: 3000,
  });
  const versions = useQuery({
    queryKey: ['schema-versions'],
    queryFn: () => session.api<SchemaVersions>('GET', '/v1/schema-versions'),
    enabled: session.isAdmin,
  });
  const act = useRolloutAction(session);
  const open = query.data?.items.some((r) => r.status === 'RUNNING' || r.status === 'PAUSED');
  return (
    <section>
      <h1>Schema rollouts</h1>
      <h2>Schema versions across the fleet</h2>
      <SchemaSkew session={session} />
      {session.isAdmin && (
        <>
          <h2>Start a rollout</h2>
          {open ? (
            <p className="muted">A rollout is open: one runs at a time (abort or finish it first).</p>
          ) : (
            <StartRollout session={session} newest={versions.data?.newest} />
          )}
        </>
      )}
      <h2>Rollouts</h2>
      <ProblemView error={act.error} />
      <Loadable query={query} empty={(d) => d.items.length === 0} emptyText="No rollout yet.">
        {(page) => (
          <table>
            <thead>
              <tr>
                <th>Target</th>
                <th>Status</th>
                <th>Wave</th>
                <th>Succeeded</th>
                <th>Failed</th>
                <th>Pending</th>
                <th>Why paused</th>
                <th>Started</th>
                {session.isAdmin && <th />}
              </tr>
            </thead>
            <tbody>
              {page.items.map((r) => (
                <tr key={r.id}>
                  <td>
                    <a href={`#/rollouts/${r.id}`}>{r.targetVersion}</a>
                  </td>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td>{r.currentWave}</td>
                  <td>{r.counts.succeeded}</td>
                  <td>{r.counts.failed}</td>
                  <td>{r.counts.pending}</td>
                  <td>{r.pausedReason ?? ''}</td>
                  <td>
                    {new Date(r.createdAt).toLocaleString()} <span className="muted">{r.createdBy}</span>
                  </td>
                  {session.isAdmin && (
                    <td>
                      <ActionButtons rollout={r} act={act} />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loadable>
    </section>
  );
}
