import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { Orphans, Reconciliation } from '../api';
import type { Session } from '../main';
import { duration, Loadable, ProblemView, StatusBadge } from '../ui';

type Orphan = Orphans['items'][number];
const orphanKey = (o: Pick<Orphan, 'type' | 'name'>) => `${o.type}/${o.name}`;

/**
 * The reconciler's view of the fleet: its last pass, every open finding, the orphaned AWS
 * resources it lists; an admin can queue a pass and delete orphans (the worker checks their
 * tags again before it deletes anything).
 */
export function ReconciliationPage({ session }: { session: Session }) {
  const client = useQueryClient();
  const report = useQuery({
    queryKey: ['reconciliation'],
    queryFn: () => session.api<Reconciliation>('GET', '/v1/reconciliation'),
    refetchInterval: 5000,
  });
  const orphans = useQuery({
    queryKey: ['orphans'],
    queryFn: () => session.api<Orphans>('GET', '/v1/orphans'),
    refetchInterval: 5000,
  });
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ['reconciliation'] });
    void client.invalidateQueries({ queryKey: ['orphans'] });
  };
  const pass = useMutation({
    mutationFn: () => session.api<{ jobId: string }>('POST', '/v1/reconcile'),
    onSettled: refresh,
  });
  const [selected, setSelected] = useState<string[]>([]);
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation({
    mutationFn: (items: { type: string; name: string }[]) =>
      session.api<{ jobId: string; items: unknown[] }>('POST', '/v1/orphans/delete', { items }),
    onSuccess: () => setSelected([]),
    onSettled: () => {
      setConfirming(false);
      refresh();
    },
  });

  return (
    <section>
      <h1>Reconciliation</h1>
      {session.isAdmin && (
        <div className="actions">
          <button onClick={() => pass.mutate()} disabled={pass.isPending}>
            Reconcile now
          </button>
          {pass.data && (
            <span className="muted" role="status">
              Pass queued ({pass.data.jobId}).
            </span>
          )}
        </div>
      )}
      <ProblemView error={pass.error} />

      <h2>Last pass</h2>
      <Loadable query={report}>
        {(r) =>
          r.lastPass === null ? (
            <p className="muted">No pass has run yet.</p>
          ) : (
            <dl className="last-pass">
              <dt>Started</dt>
              <dd>
                {new Date(r.lastPass.startedAt).toLocaleString()} by {r.lastPass.triggeredBy}
              </dd>
              <dt>Took</dt>
              <dd>
                {r.lastPass.finishedAt ? duration(r.lastPass.startedAt, r.lastPass.finishedAt) : 'running…'}
              </dd>
              <dt>Tenants checked</dt>
              <dd>{r.lastPass.tenantsChecked}</dd>
              <dt>Lost jobs queued again</dt>
              <dd>{r.lastPass.redriven}</dd>
              <dt>Drift</dt>
              <dd>
                {r.lastPass.drift.checked} compared, {r.lastPass.drift.repaired} repaired,{' '}
                {r.lastPass.drift.reported} reported, {r.lastPass.drift.critical} critical
              </dd>
              <dt>Orphans</dt>
              <dd>{r.lastPass.orphans}</dd>
              {r.lastPass.error && (
                <>
                  <dt>Incomplete</dt>
                  <dd className="problem">
                    {r.lastPass.error.code}: {r.lastPass.error.message}
                  </dd>
                </>
              )}
            </dl>
          )
        }
      </Loadable>

      <h2>Open findings</h2>
      <Loadable
        query={report}
        empty={(r) => r.findings.length === 0}
        emptyText="The reconciler found nothing open."
      >
        {(r) => (
          <table className="findings">
            <thead>
              <tr>
                <th>Severity</th>
                <th>Tenant</th>
                <th>Kind</th>
                <th>What</th>
                <th>Expected</th>
                <th>Found</th>
                <th>Since</th>
              </tr>
            </thead>
            <tbody>
              {r.findings.map((f) => (
                <tr key={`${f.tenantId}/${f.field}`}>
                  <td>
                    <StatusBadge status={f.severity} />
                  </td>
                  <td>
                    <a href={`#/tenants/${f.tenantId}`}>{f.tenantSlug}</a>
                  </td>
                  <td>{f.kind}</td>
                  <td>
                    {f.field}
                    {f.repairError && <div className="field-error">{f.repairError}</div>}
                  </td>
                  <td>{f.expected}</td>
                  <td>{f.found}</td>
                  <td>{new Date(f.since).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loadable>

      <h2>Open findings on shared hosts</h2>
      <Loadable
        query={report}
        empty={(r) => r.hostFindings.length === 0}
        emptyText="The reconciler found nothing open on the shared hosts."
      >
        {(r) => (
          <table className="findings">
            <thead>
              <tr>
                <th>Severity</th>
                <th>Host</th>
                <th>Kind</th>
                <th>What</th>
                <th>Expected</th>
                <th>Found</th>
                <th>Since</th>
              </tr>
            </thead>
            <tbody>
              {r.hostFindings.map((f) => (
                <tr key={`${f.hostId}/${f.field}`}>
                  <td>
                    <StatusBadge status={f.severity} />
                  </td>
                  <td>{f.hostName}</td>
                  <td>{f.kind}</td>
                  <td>
                    {f.field}
                    {f.repairError && <div className="field-error">{f.repairError}</div>}
                  </td>
                  <td>{f.expected}</td>
                  <td>{f.found}</td>
                  <td>{new Date(f.since).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loadable>

      <h2>Orphans</h2>
      <p className="muted">
        AWS resources tagged for this environment whose tenant does not exist or is DELETED (or whose shared
        host does not exist or is deleted). A pass only lists them.
      </p>
      <ProblemView error={remove.error} />
      <Loadable query={orphans} empty={(o) => o.items.length === 0} emptyText="No orphans.">
        {(list) => {
          const chosen = list.items.filter((o) => selected.includes(orphanKey(o)));
          return (
            <>
              <table className="orphans">
                <thead>
                  <tr>
                    {session.isAdmin && <th />}
                    <th>Type</th>
                    <th>Name</th>
                    <th>Tenant (tag)</th>
                    <th>Since</th>
                    <th>Last seen</th>
                    <th>Deletion</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((o) => (
                    <tr key={orphanKey(o)} data-orphan={o.name}>
                      {session.isAdmin && (
                        <td>
                          <input
                            type="checkbox"
                            aria-label={`select ${o.name}`}
                            checked={selected.includes(orphanKey(o))}
                            onChange={(e) =>
                              setSelected(
                                e.target.checked
                                  ? [...selected, orphanKey(o)]
                                  : selected.filter((k) => k !== orphanKey(o)),
                              )
                            }
                          />
                        </td>
                      )}
                      <td>{o.type}</td>
                      <td>{o.name}</td>
                      <td>
                        {o.tags['silo:tenant-slug'] ?? ''} <span className="muted">{o.tenantId}</span>
                      </td>
                      <td>{new Date(o.since).toLocaleString()}</td>
                      <td>{new Date(o.lastSeen).toLocaleString()}</td>
                      <td>
                        {o.deletion === null
                          ? ''
                          : o.deletion.error
                            ? `failed: ${o.deletion.error}`
                            : `asked ${o.deletion.requestedAt ? new Date(o.deletion.requestedAt).toLocaleString() : ''}`}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {session.isAdmin && chosen.length > 0 && (
                <div className="actions">
                  {confirming ? (
                    <>
                      <span>
                        Delete {chosen.length} {chosen.length === 1 ? 'orphan' : 'orphans'} for good (an
                        instance without a final snapshot)?
                      </span>
                      <button
                        className="danger"
                        disabled={remove.isPending}
                        onClick={() => remove.mutate(chosen.map(({ type, name }) => ({ type, name })))}
                      >
                        Yes, delete
                      </button>
                      <button onClick={() => setConfirming(false)}>Cancel</button>
                    </>
                  ) : (
                    <button className="danger" onClick={() => setConfirming(true)}>
                      Delete selected ({chosen.length})
                    </button>
                  )}
                </div>
              )}
            </>
          );
        }}
      </Loadable>
    </section>
  );
}
