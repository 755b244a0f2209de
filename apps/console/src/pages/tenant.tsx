import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { TIER_NAMES } from '../../../../libs/core/src/tenant/tier';
import type { Tenant, TenantAlarms, TenantEvents } from '../api';
import type { Session } from '../main';
import { duration, Loadable, ProblemView, StatusBadge } from '../ui';

export function TenantPage({ session, id }: { session: Session; id: string }) {
  const client = useQueryClient();
  const path = `/v1/tenants/${encodeURIComponent(id)}`;
  const tenant = useQuery({
    queryKey: ['tenant', id],
    queryFn: () => session.api<Tenant>('GET', path),
    refetchInterval: 2000,
  });
  const events = useQuery({
    queryKey: ['events', id],
    queryFn: () => session.api<TenantEvents>('GET', `${path}/events`),
    refetchInterval: 5000,
  });
  const alarms = useQuery({
    queryKey: ['tenant-alarms', id],
    queryFn: () => session.api<TenantAlarms>('GET', `${path}/alarms`),
    refetchInterval: 15_000,
  });
  const action = useMutation({
    mutationFn: ({ method, to, body }: { method: string; to: string; body?: unknown }) =>
      session.api<Tenant>(method, to, body),
    onSettled: () => client.invalidateQueries({ queryKey: ['tenant', id] }),
  });
  const [confirm, setConfirm] = useState('');
  const [tier, setTier] = useState('pro');

  return (
    <Loadable query={tenant}>
      {(t) => (
        <section>
          <h1>
            {t.slug} <StatusBadge status={t.status} />
          </h1>
          <p className="muted">
            {t.name} · {t.tier} · {t.id}
          </p>
          <ProblemView error={action.error} />
          {session.isAdmin && (
            <div className="actions">
              <button onClick={() => action.mutate({ method: 'POST', to: `${path}/retry` })}>Retry</button>
              <button onClick={() => action.mutate({ method: 'POST', to: `${path}/suspend` })}>
                Suspend
              </button>
              <button onClick={() => action.mutate({ method: 'POST', to: `${path}/resume` })}>Resume</button>
              <span>
                <select name="change-tier" value={tier} onChange={(e) => setTier(e.target.value)}>
                  {TIER_NAMES.map((x) => (
                    <option key={x}>{x}</option>
                  ))}
                </select>
                <button onClick={() => action.mutate({ method: 'PATCH', to: path, body: { tier } })}>
                  Change tier
                </button>
              </span>
              <button
                onClick={() =>
                  action.mutate({ method: 'POST', to: `${path}/rotate-credentials`, body: { which: 'both' } })
                }
              >
                Rotate credentials
              </button>
              <span>
                <input
                  name="confirm"
                  placeholder="type the slug to delete"
                  value={confirm}
                  onChange={(e) => setConfirm(e.target.value)}
                />
                <button
                  className="danger"
                  disabled={confirm !== t.slug}
                  onClick={() =>
                    action.mutate({ method: 'DELETE', to: `${path}?confirm=${encodeURIComponent(confirm)}` })
                  }
                >
                  Delete
                </button>
              </span>
            </div>
          )}

          <h2>Steps</h2>
          <ol className="timeline">
            {t.provisioning.steps.map((s) => (
              <li key={`${s.saga}/${s.name}`} className={`step step-${s.status}`}>
                <span>
                  {s.saga}/{s.name}
                </span>{' '}
                <span className="muted">
                  {s.status} {duration(s.startedAt, s.finishedAt)}
                </span>
              </li>
            ))}
          </ol>
          {t.provisioning.lastError && (
            <p className="problem">
              Last error at {t.provisioning.lastError.step}: {t.provisioning.lastError.message}
            </p>
          )}
          {t.change && (
            <>
              <h2>Change</h2>
              <p>
                {t.change.kind} {t.change.from} → {t.change.to}: <StatusBadge status={t.change.status} />
                {t.change.error && <span className="problem"> {t.change.error.message}</span>}
              </p>
            </>
          )}

          <h2>Alarms</h2>
          <Loadable query={alarms} empty={(d) => d.items.length === 0} emptyText="No alarms yet.">
            {(list) => (
              <table className="alarms">
                <tbody>
                  {list.items.map((a) => (
                    <tr key={a.name}>
                      <td>{a.metric}</td>
                      <td>
                        {a.comparison} {a.threshold}
                      </td>
                      <td>
                        <StatusBadge status={a.state} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Loadable>

          <h2>Findings</h2>
          {t.findings.length === 0 ? (
            <p className="muted">The reconciler found nothing.</p>
          ) : (
            <ul>
              {t.findings.map((f) => (
                <li key={f.field}>
                  {f.severity} {f.kind} {f.field}: expected {f.expected}, found {f.found}
                </li>
              ))}
            </ul>
          )}

          <h2>Database</h2>
          {t.database ? (
            <dl>
              <dt>Instance</dt>
              <dd>{t.database.instanceIdentifier}</dd>
              <dt>Class</dt>
              <dd>{t.database.instanceClass}</dd>
              <dt>Engine</dt>
              <dd>
                {t.database.engine} {t.database.engineVersion}
              </dd>
              <dt>Multi-AZ</dt>
              <dd>{String(t.database.multiAz)}</dd>
              <dt>Endpoint</dt>
              <dd>{t.database.endpoint ? `${t.database.endpoint.host}:${t.database.endpoint.port}` : '–'}</dd>
              <dt>Schema</dt>
              <dd>{t.database.schemaVersion ?? '–'}</dd>
            </dl>
          ) : (
            <p className="muted">No instance yet.</p>
          )}

          <h2>Audit trail</h2>
          <Loadable query={events}>
            {(list) => (
              <table className="events">
                <tbody>
                  {list.items.map((e, i) => (
                    <tr key={i}>
                      <td>{new Date(e.at).toLocaleString()}</td>
                      <td>{e.type}</td>
                      <td>{e.message}</td>
                      <td>{e.actor}</td>
                      <td className="muted">{e.correlationId ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Loadable>
        </section>
      )}
    </Loadable>
  );
}
