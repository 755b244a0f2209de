import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Rollout, Rollouts } from '../api';
import type { Session } from '../main';
import { Loadable, ProblemView, StatusBadge } from '../ui';

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
                  <td>{r.targetVersion}</td>
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
