import { useQuery } from '@tanstack/react-query';
import type { FleetAlarms } from '../api';
import { alarmCondition } from '../format';
import type { Session } from '../main';
import { Loadable } from '../ui';

export function AlarmsPage({ session }: { session: Session }) {
  const query = useQuery({
    queryKey: ['alarms'],
    queryFn: () => session.api<FleetAlarms>('GET', '/v1/alarms?state=ALARM&limit=200'),
    refetchInterval: 15_000,
  });
  return (
    <section>
      <h1>Alarms firing</h1>
      <Loadable query={query} empty={(d) => d.items.length === 0} emptyText="No alarm is firing.">
        {(page) => (
          <table>
            <thead>
              <tr>
                <th>Tenant or host</th>
                <th>Tier</th>
                <th>Metric</th>
                <th>Condition</th>
                <th>Since</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((a) => (
                <tr key={a.name}>
                  <td>
                    {a.tenant ? (
                      <a href={`#/tenants/${a.tenant.id}`}>{a.tenant.slug}</a>
                    ) : (
                      <HostOf alarm={a} />
                    )}
                  </td>
                  <td>{a.tenant?.tier ?? a.host?.tier}</td>
                  <td>{a.metric}</td>
                  <td title={`${a.comparison} ${a.threshold}`}>{alarmCondition(a)}</td>
                  <td>{a.updatedAt ? new Date(a.updatedAt).toLocaleString() : '–'}</td>
                  <td>{a.stateReason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loadable>
    </section>
  );
}

/** A shared host's alarm: the host, and the tenants on it it concerns. */
function HostOf({ alarm }: { alarm: FleetAlarms['items'][number] }) {
  const tenants = alarm.hostTenants;
  const more = tenants ? tenants.count - tenants.items.length : 0;
  return (
    <>
      host {alarm.host?.name}
      {tenants && tenants.count > 0 && (
        <div className="muted">
          {tenants.count} tenant{tenants.count === 1 ? '' : 's'}:{' '}
          {tenants.items.map((t, i) => (
            <span key={t.id}>
              {i > 0 && ', '}
              <a href={`#/tenants/${t.id}`}>{t.slug}</a>
            </span>
          ))}
          {more > 0 && ` and ${more} more`}
        </div>
      )}
    </>
  );
}
