import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { TENANT_STATUSES } from '../../../../libs/core/src/tenant/tenant-status';
import { TIER_NAMES } from '../../../../libs/core/src/tenant/tier';
import type { TenantList } from '../api';
import type { Session } from '../main';
import { Loadable, StatusBadge } from '../ui';

// '' is "any": no filter.
const STATUSES = ['', ...TENANT_STATUSES];
const TIERS = ['', ...TIER_NAMES];

export function TenantsPage({ session }: { session: Session }) {
  const [status, setStatus] = useState('');
  const [tier, setTier] = useState('');
  const [search, setSearch] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1) ?? '';
  const query = useQuery({
    queryKey: ['tenants', status, tier, cursor],
    queryFn: () =>
      session.api<TenantList>(
        'GET',
        `/v1/tenants?${new URLSearchParams({ status, tier, cursor, limit: '25' }).toString()}`,
      ),
    refetchInterval: 3000,
  });
  const reset = () => setCursors([]);
  return (
    <section>
      <h1>Tenants</h1>
      <div className="filters">
        <label>
          Status
          <select name="status" value={status} onChange={(e) => (setStatus(e.target.value), reset())}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tier
          <select name="tier" value={tier} onChange={(e) => (setTier(e.target.value), reset())}>
            {TIERS.map((t) => (
              <option key={t} value={t}>
                {t || 'any'}
              </option>
            ))}
          </select>
        </label>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (search.trim()) location.hash = `#/tenants/${encodeURIComponent(search.trim())}`;
          }}
        >
          <label>
            Slug
            <input
              name="search"
              value={search}
              onChange={(e) => setSearch(e.target.value)}
              placeholder="acme-corp"
            />
          </label>
          <button type="submit">Open</button>
        </form>
      </div>
      <Loadable query={query} empty={(d) => d.items.length === 0} emptyText="No tenants match.">
        {(page) => (
          <>
            <table>
              <thead>
                <tr>
                  <th>Slug</th>
                  <th>Name</th>
                  <th>Tier</th>
                  <th>Region</th>
                  <th>Status</th>
                  <th>Schema</th>
                  <th>Firing alarms</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((t) => (
                  <tr key={t.id} data-slug={t.slug}>
                    <td>
                      <a href={`#/tenants/${t.id}`}>{t.slug}</a>
                    </td>
                    <td>{t.name}</td>
                    <td>{t.tier}</td>
                    <td>{t.region ?? '–'}</td>
                    <td>
                      <StatusBadge status={t.status} />
                    </td>
                    <td>{t.schemaVersion ?? '–'}</td>
                    <td>{t.firingAlarms ?? '–'}</td>
                    <td>{new Date(t.createdAt).toLocaleString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div className="pager">
              <button disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>
                Previous
              </button>
              <button
                disabled={!page.nextCursor}
                onClick={() => page.nextCursor && setCursors([...cursors, page.nextCursor])}
              >
                Next
              </button>
            </div>
          </>
        )}
      </Loadable>
    </section>
  );
}
