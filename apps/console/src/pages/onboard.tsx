import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { slugProblem } from '../../../../libs/core/src/tenant/tenant-slug';
import { Problem, type Tenant, type Tiers } from '../api';
import type { Session } from '../main';
import { Loadable, ProblemView } from '../ui';

export function OnboardPage({ session }: { session: Session }) {
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [tier, setTier] = useState('starter');
  const [region, setRegion] = useState('');
  // One key per submission attempt: a double click (or a retry of the same submission) makes one tenant.
  const [key, setKey] = useState(() => crypto.randomUUID());
  const tiers = useQuery({ queryKey: ['tiers'], queryFn: () => session.api<Tiers>('GET', '/v1/tiers') });
  const create = useMutation({
    mutationFn: () =>
      session.api<Tenant>(
        'POST',
        '/v1/tenants',
        { slug, name, tier, ...(region.trim() ? { region: region.trim() } : {}) },
        { 'idempotency-key': key },
      ),
    onSuccess: (tenant) => {
      setKey(crypto.randomUUID());
      location.hash = `#/tenants/${tenant.id}`;
    },
  });
  // The contract's slug rule, from the same function the API checks it with.
  const shapeProblem = slug ? slugProblem(slug) : null;
  // Taken or free, asked of the API as the user types (the create still decides: 409).
  const taken = useQuery({
    queryKey: ['slug-taken', slug],
    enabled: Boolean(slug) && !shapeProblem,
    queryFn: () =>
      session.api<Tenant>('GET', `/v1/tenants/${slug}`).then(
        () => true,
        (error: unknown) => {
          if (error instanceof Problem && error.status === 404) return false;
          throw error;
        },
      ),
  });
  const problem = shapeProblem ?? (taken.data ? `${slug} is already taken` : null);
  return (
    <section>
      <h1>Onboard a tenant</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label>
          Slug
          <input
            name="slug"
            value={slug}
            onChange={(e) => setSlug(e.target.value)}
            aria-invalid={Boolean(problem)}
          />
        </label>
        {problem && <p className="field-error">{problem}</p>}
        <label>
          Name
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Region
          <input
            name="region"
            value={region}
            placeholder="the default region"
            onChange={(e) => setRegion(e.target.value)}
          />
        </label>
        <Loadable query={tiers}>
          {(list) => (
            <div className="tier-cards">
              {list.items.map((t) => (
                <label key={t.tier} className={`tier-card ${tier === t.tier ? 'selected' : ''}`}>
                  <input
                    type="radio"
                    name="tier"
                    value={t.tier}
                    checked={tier === t.tier}
                    onChange={() => setTier(t.tier)}
                  />
                  <strong>{t.tier}</strong>
                  <span>{t.instanceClass}</span>
                  <span>
                    {t.storage.allocatedGiB} GiB gp3{t.storage.iops ? `, ${t.storage.iops} IOPS` : ''}
                  </span>
                  <span>{t.multiAz ? 'Multi-AZ' : 'single-AZ'}</span>
                  <span>backups {t.backupRetentionDays} days</span>
                </label>
              ))}
            </div>
          )}
        </Loadable>
        <button type="submit" disabled={Boolean(problem) || !slug || !name || create.isPending}>
          Create
        </button>
      </form>
      <ProblemView error={create.error} />
    </section>
  );
}
