import type { ReactNode } from 'react';
import { Problem } from './api';

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status.toLowerCase()}`}>{status}</span>;
}

/** Loading, error and empty states, the same everywhere. */
export function Loadable<T>(props: {
  query: { isPending: boolean; error: unknown; data: T | undefined };
  empty?: (data: T) => boolean;
  emptyText?: string;
  children: (data: T) => ReactNode;
}) {
  const { query } = props;
  if (query.isPending)
    return (
      <p className="muted" role="status">
        Loading…
      </p>
    );
  if (query.error) return <ProblemView error={query.error} />;
  if (query.data === undefined) return null;
  if (props.empty?.(query.data)) return <p className="muted">{props.emptyText ?? 'Nothing here.'}</p>;
  return <>{props.children(query.data)}</>;
}

export function ProblemView({ error }: { error: unknown }) {
  if (!error) return null;
  const p = error instanceof Problem ? error : null;
  return (
    <div className="problem" role="alert">
      <strong>{p ? `${p.status} ${p.title}` : 'Error'}</strong>
      {p?.detail ? (
        <div className="detail">{p.detail}</div>
      ) : (
        !p && <div>{error instanceof Error ? error.message : 'unexpected error'}</div>
      )}
    </div>
  );
}

export function duration(from: string | null, to: string | null): string {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  return ms < 1000
    ? `${ms} ms`
    : ms < 60_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${Math.round(ms / 60_000)} min`;
}
