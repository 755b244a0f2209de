import { useState } from 'react';
import { PLACEMENTS } from '../../../../libs/core/src/provisioning/tenant-resource-names';
import { TIER_NAMES } from '../../../../libs/core/src/tenant/tier';
import type { Tenant } from '../api';
import { moveRequest, moveState } from '../lifecycle';
import { duration, StatusBadge } from '../ui';

type Send = (body?: unknown) => void;

/** The fields of a move: each left empty keeps what the tenant has (the placement: the tier's). */
export function MoveForm({ tenant, onMove }: { tenant: Tenant; onMove: Send }) {
  const [placement, setPlacement] = useState('');
  const [region, setRegion] = useState('');
  const [tier, setTier] = useState('');
  const body = moveRequest({ placement, region, tier });
  return (
    <span className="move-form">
      <select name="move-placement" value={placement} onChange={(e) => setPlacement(e.target.value)}>
        <option value="">the tier’s placement</option>
        {PLACEMENTS.map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
      <input
        name="move-region"
        value={region}
        placeholder={`region (${tenant.region ?? 'its own'})`}
        onChange={(e) => setRegion(e.target.value)}
      />
      <select name="move-tier" value={tier} onChange={(e) => setTier(e.target.value)}>
        <option value="">tier {tenant.tier}</option>
        {TIER_NAMES.filter((x) => x !== tenant.tier).map((x) => (
          <option key={x} value={x}>
            {x}
          </option>
        ))}
      </select>
      <button disabled={body === null} onClick={() => onMove(body)}>
        Move
      </button>
    </span>
  );
}

/**
 * A move's progress: its steps, its status, the write pause once it switched or the error once it
 * failed, and (admin, before its cut-over) an Abort button.
 */
export function MoveProgress({
  change,
  isAdmin,
  onAbort,
}: {
  change: NonNullable<Tenant['change']>;
  isAdmin: boolean;
  onAbort: () => void;
}) {
  const state = moveState(change);
  if (!state) return null;
  return (
    <div className="move">
      <p>
        move {change.from} → {change.to}
        {change.toTier ? ` (tier ${change.toTier})` : ''}: <StatusBadge status={change.status} />
        {state.abortRequested && state.running && <span className="muted"> abort requested</span>}
        {isAdmin && state.abortable && (
          <button className="danger" onClick={onAbort}>
            Abort move
          </button>
        )}
      </p>
      <ol className="timeline">
        {change.steps.map((s) => (
          <li key={s.name} className={`step step-${s.status}`}>
            <span>{s.name}</span>{' '}
            <span className="muted">
              {s.status} {duration(s.startedAt, s.finishedAt)}
            </span>
          </li>
        ))}
      </ol>
      {state.pausedForMs !== null && (
        <p>
          Writes paused {state.pausedForMs} ms
          {change.cutOver ? ` (source frozen ${change.cutOver.frozenForMs} ms)` : ''}
          {change.sourceRemovalDueAt
            ? `; the source is removed after ${new Date(change.sourceRemovalDueAt).toLocaleString()}`
            : ''}
          .
        </p>
      )}
      {state.error && <p className="problem">{state.error}</p>}
    </div>
  );
}
