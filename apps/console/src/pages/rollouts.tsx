import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Rollout, Rollouts } from '../api';
import type { Session } from '../main';
import { Loadable, ProblemView, StatusBadge } from '../ui';

/** One rollout: progress per wave and the failed tenants with what failed. */
export function RolloutPage({ session, id }: { session: Session; id: string }) {
  const query = useQuery({
    queryKey: ['rollout', id],
    queryFn: () => session.api<Rollout>('GET', `/v1/schema-rollouts/${encodeURIComponent(id)}`),
    refetchInterval: 3000,
  });
  return (
    <Loadable query={query}>
      {(r) => (
        <section>
          <h1>
            Rollout to {r.targetVersion} <StatusBadge status={r.status} />
          </h1>
          {r.pausedReason && <p className="problem">{r.pausedReason}</p>}
          {r.plan.length === 0 && <p className="muted">Every tenant was already at this version.</p>}
          <table className="waves">
            <thead>
              <tr>
                <th>Wave</th>
                <th>Tenants</th>
                <th>Done</th>
                <th>Failed</th>
              </tr>
            </thead>
            <tbody>
              {r.plan.map((w) => (
                <tr key={w.index}>
                  <td>{w.kind === 'canary' ? 'canary' : `${w.percent}%`}</td>
                  <td>{w.tenants.length}</td>
                  <td>{w.tenants.filter((t) => t.state === 'succeeded' || t.state === 'skipped').length}</td>
                  <td>{w.tenants.filter((t) => t.state === 'failed').length}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Failed tenants</h2>
          {r.failedTenants.length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <ul>
              {r.failedTenants.map((f) => (
                <li key={f.tenantId}>
                  {f.slug} (wave {f.wave}): {f.failingMigration ?? ''} {f.sqlState ?? ''} {f.message ?? ''}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </Loadable>
  );
}

export function RolloutsPage({ session }: { session: Session }) {
  const client = useQueryClient();
  const query = useQuery({
    queryKey: ['rollouts'],
    queryFn: () => session.api<Rollouts>('GET', '/v1/schema-rollouts'),
    refetchInterval: 3000,
  });
  const act = useMutation({
    mutationFn: ({ id, action }: { id: string; action: string }) =>
      session.api<Rollout>('POST', `/v1/schema-rollouts/${id}/${action}`),
    onSettled: () => client.invalidateQueries({ queryKey: ['rollouts'] }),
  });
  return (
    <section>
      <h1>Schema rollouts</h1>
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
                  {session.isAdmin && (
                    <td>
                      {(['pause', 'resume', 'abort'] as const).map((action) => (
                        <button key={action} onClick={() => act.mutate({ id: r.id, action })}>
                          {action}
                        </button>
                      ))}
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
