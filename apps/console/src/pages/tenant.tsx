import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { TIER_NAMES } from '../../../../libs/core/src/tenant/tier';
import type { Tenant, TenantAlarms, TenantEvents } from '../api';
import type { Session } from '../main';
import { alarmCondition } from '../format';
import { isChanging, tenantActions } from '../lifecycle';
import { duration, Loadable, ProblemView, StatusBadge } from '../ui';
import { MoveForm, MoveProgress } from './tenant-move';

export function TenantPage({ session, id }: { session: Session; id: string }) {
  const client = useQueryClient();
  const path = `/v1/tenants/${encodeURIComponent(id)}`;
  const tenant = useQuery({
    queryKey: ['tenant', id],
    queryFn: () => session.api<Tenant>('GET', path),
    refetchInterval: (q) => (q.state.data && !isChanging(q.state.data) ? 5000 : 2000),
  });
  const current = tenant.data;
  const changing = current ? isChanging(current) : true;
  // The tenant's last move, in the API's clock: alarms read from CloudWatch before it may be stale.
  const movedAt = current ? latest(current.updatedAt, current.change?.finishedAt ?? null) : null;
  // Until when (this browser's clock) alarms are read often while they are older than movedAt:
  // the API reads CloudWatch every 15 s in the background, so they catch up within that.
  const [catchUpUntil, setCatchUpUntil] = useState(0);
  const events = useQuery({
    queryKey: ['events', id],
    queryFn: () => session.api<TenantEvents>('GET', `${path}/events`),
    refetchInterval: changing ? 2000 : 15_000,
  });
  const alarms = useQuery({
    queryKey: ['tenant-alarms', id],
    queryFn: () => session.api<TenantAlarms>('GET', `${path}/alarms`),
    refetchInterval: (q) => {
      if (changing) return 3000;
      const readAt = q.state.data?.readAt;
      const behind = !readAt || (movedAt !== null && Date.parse(readAt) < Date.parse(movedAt));
      return behind && Date.now() < catchUpUntil ? 3000 : 15_000;
    },
  });
  // When the status or the change moves (and when the page opens), events and alarms are read
  // again at once, and alarms keep being read often for a while until a read after the move.
  const stateKey = current
    ? `${current.status}/${current.change?.run ?? ''}/${current.change?.status ?? ''}`
    : null;
  const seenKey = useRef<string | null>(null);
  useEffect(() => {
    if (stateKey === null || seenKey.current === stateKey) return;
    if (seenKey.current !== null) {
      void client.invalidateQueries({ queryKey: ['events', id] });
      void client.invalidateQueries({ queryKey: ['tenant-alarms', id] });
    }
    seenKey.current = stateKey;
    setCatchUpUntil(Date.now() + ALARMS_CATCH_UP_MS);
  }, [stateKey, client, id]);
  const action = useMutation({
    mutationFn: ({ method, to, body }: { method: string; to: string; body?: unknown }) =>
      session.api<Tenant>(method, to, body),
    onSettled: () => client.invalidateQueries({ queryKey: ['tenant', id] }),
  });
  const [confirm, setConfirm] = useState('');
  const [tier, setTier] = useState('');

  return (
    <Loadable query={tenant}>
      {(t) => {
        const can = tenantActions(t);
        const otherTiers = TIER_NAMES.filter((x) => x !== t.tier);
        const target = otherTiers.find((x) => x === tier) ?? otherTiers[0];
        return (
          <section>
            <h1>
              {t.slug} <StatusBadge status={t.status} />
            </h1>
            <p className="muted">
              {t.name} · {t.tier} · {t.region ?? 'default region'} · {t.id}
            </p>
            <ProblemView error={action.error} />
            {session.isAdmin && (
              <div className="actions">
                {!Object.values(can).some(Boolean) && (
                  <span className="muted">Nothing to do while the tenant is {t.status}.</span>
                )}
                {can.retry && (
                  <button onClick={() => action.mutate({ method: 'POST', to: `${path}/retry` })}>
                    Retry
                  </button>
                )}
                {can.suspend && (
                  <button onClick={() => action.mutate({ method: 'POST', to: `${path}/suspend` })}>
                    Suspend
                  </button>
                )}
                {can.resume && (
                  <button onClick={() => action.mutate({ method: 'POST', to: `${path}/resume` })}>
                    Resume
                  </button>
                )}
                {can.changeTier && target && (
                  <span>
                    <select name="change-tier" value={target} onChange={(e) => setTier(e.target.value)}>
                      {otherTiers.map((x) => (
                        <option key={x}>{x}</option>
                      ))}
                    </select>
                    <button
                      onClick={() => action.mutate({ method: 'PATCH', to: path, body: { tier: target } })}
                    >
                      Change tier
                    </button>
                  </span>
                )}
                {can.rotate && (
                  <button
                    onClick={() =>
                      action.mutate({
                        method: 'POST',
                        to: `${path}/rotate-credentials`,
                        // Every credential the tenant owns (both for an instance, app for a schema).
                        body: {},
                      })
                    }
                  >
                    Rotate credentials
                  </button>
                )}
                {can.move && (
                  <MoveForm
                    tenant={t}
                    onMove={(body) => action.mutate({ method: 'POST', to: `${path}/move`, body })}
                  />
                )}
                {can.delete && (
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
                        action.mutate({
                          method: 'DELETE',
                          to: `${path}?confirm=${encodeURIComponent(confirm)}`,
                        })
                      }
                    >
                      Delete
                    </button>
                  </span>
                )}
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
            {t.change && t.change.kind === 'move' ? (
              <>
                <h2>Move</h2>
                <MoveProgress
                  change={t.change}
                  isAdmin={session.isAdmin}
                  onAbort={() => action.mutate({ method: 'POST', to: `${path}/move/abort` })}
                />
              </>
            ) : (
              t.change && (
                <>
                  <h2>Change</h2>
                  <p>
                    {t.change.kind} {t.change.from} → {t.change.to}: <StatusBadge status={t.change.status} />
                    {t.change.error && <span className="problem"> {t.change.error.message}</span>}
                  </p>
                </>
              )
            )}

            <h2>Alarms</h2>
            <Loadable
              query={alarms}
              empty={(d) => d.items.length === 0}
              emptyText={
                t.status === 'DELETED'
                  ? 'No alarms: they were deleted with the tenant.'
                  : 'No alarms yet: provisioning creates them, and they show here within 15 s of CloudWatch having them.'
              }
            >
              {(list) => (
                <>
                  {list.of === 'host' && list.host ? (
                    <p className="muted">
                      The alarms of shared host {list.host.name}: this {t.placement} tenant has no instance of
                      its own, and they concern every tenant on that host.
                    </p>
                  ) : null}
                  <table className="alarms">
                    <tbody>
                      {list.items.map((a) => (
                        <tr key={a.name}>
                          <td>{a.metric}</td>
                          <td title={`${a.comparison} ${a.threshold}`}>{alarmCondition(a)}</td>
                          <td>
                            <StatusBadge status={a.state} />
                          </td>
                          <td className="muted">
                            {a.updatedAt ? new Date(a.updatedAt).toLocaleString() : ''}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  <p className="muted">
                    As CloudWatch had them at {new Date(list.readAt).toLocaleTimeString()}.
                  </p>
                </>
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
                <dd>
                  {t.database.endpoint ? `${t.database.endpoint.host}:${t.database.endpoint.port}` : '–'}
                </dd>
                <dt>Schema</dt>
                <dd>{t.schemaVersion ?? '–'}</dd>
              </dl>
            ) : t.placement !== 'instance' ? (
              <>
                <p className="muted">
                  {t.placement === 'pool' ? 'Rows in the pool database of' : 'A schema of its own on'} shared
                  host {t.host?.name ?? '(not placed yet)'}.
                </p>
                <dl>
                  <dt>Schema</dt>
                  <dd>
                    {t.schemaVersion ?? '–'}
                    {t.placement === 'pool' ? ' (its pool’s, shared by every tenant on the host)' : ''}
                  </dd>
                </dl>
              </>
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
        );
      }}
    </Loadable>
  );
}

const ALARMS_CATCH_UP_MS = 60_000;

function latest(a: string, b: string | null): string {
  return b !== null && Date.parse(b) > Date.parse(a) ? b : a;
}
