import { useState, type FormEvent, type KeyboardEvent } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { api, ApiError, pagePath, type Paged } from '../api';
import { age, ErrorMessage, Field } from '../components';
import type { User } from '../session';
import { useTenants } from './Models';

interface SystemInfo {
  nodes: { name: string; status: string; version: string; capacity: Record<string, string> }[];
  namespaces: { name: string; status: string }[];
  deployments: { name: string; namespace: string; ready: number; replicas: number; available: number }[];
  orleans: { silos: { address: string; name: string; hostName: string; status: string; startTime: string }[]; activations: { grainType: string; activations: number }[]; totalActivations: number };
}

export function SystemPage() {
  const system = useQuery({ queryKey: ['system'], queryFn: () => api.get<SystemInfo>('/api/admin/system'), refetchInterval: 5000 });
  const s = system.data;
  return (
    <section aria-labelledby="system-heading">
      <h1 id="system-heading">System</h1>
      <p className="hint">Refreshed every 5 seconds.</p>
      <ErrorMessage error={system.error} />
      {s ? (
        <>
          <h2>Nodes</h2>
          <Table label="Nodes" head={['Name', 'Status', 'Version', 'CPU', 'Memory']} rows={s.nodes.map((n) => [n.name, n.status, n.version, n.capacity.cpu ?? '', n.capacity.memory ?? ''])} />
          <h2>Deployments</h2>
          <Table label="Deployments" head={['Name', 'Namespace', 'Ready', 'Replicas', 'Available']} rows={s.deployments.map((d) => [d.name, d.namespace, String(d.ready), String(d.replicas), String(d.available)])} />
          <h2>Silos</h2>
          <Table label="Silos" head={['Name', 'Address', 'Host', 'Status', 'Up']} rows={s.orleans.silos.map((o) => [o.name, o.address, o.hostName, o.status, age(o.startTime)])} />
          <h2>Activations by grain type ({s.orleans.totalActivations} in all)</h2>
          <Table label="Activations by grain type" head={['Grain type', 'Activations']} rows={s.orleans.activations.map((a) => [a.grainType, String(a.activations)])} />
        </>
      ) : null}
    </section>
  );
}

export function TenantsPage() {
  const tenants = useTenants(true);
  return (
    <section aria-labelledby="tenants-heading">
      <h1 id="tenants-heading">Tenants</h1>
      <ErrorMessage error={tenants.error} />
      {tenants.data ? (
        <Table label="Tenants" head={['Tenant', 'Status', 'Models', 'Publications', 'Labelled', 'Age']} rows={tenants.data.tenants.map((t) => [t.name, t.status, String(t.models), String(t.publications), t.labelled ? 'yes' : 'no', age(t.created)])} />
      ) : null}
    </section>
  );
}

/** A table named by the heading above it (`label`), so a screen reader's table list says which is which. */
function Table({ label, head, rows }: { label: string; head: string[]; rows: string[][] }) {
  if (rows.length === 0) return <p>None.</p>;
  return (
    <div className="table-wrap">
      <table aria-label={label}>
        <thead>
          <tr>
            {head.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {r.map((c, j) => (j === 0 ? <th key={j} scope="row">{c}</th> : <td key={j}>{c}</td>))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

interface AuditRecord {
  time: string;
  actor: string;
  tenant?: string;
  action: string;
  target?: string;
  outcome: string;
  status: number;
  sourceIp?: string;
  count: number;
}

const AUDIT_PAGE = 25;

export function AuditPage({ user }: { user: User }) {
  const [filters, setFilters] = useState({ tenant: '', action: '', from: '', to: '' });
  const [applied, setApplied] = useState(filters);
  // Tokens of the pages before the current one, so "Previous" goes back without the server keeping state.
  const [pages, setPages] = useState<(string | undefined)[]>([undefined]);
  const token = pages[pages.length - 1];
  const query = new URLSearchParams();
  if (user.isAdmin && applied.tenant) query.set('tenant', applied.tenant);
  if (applied.action) query.set('action', applied.action);
  if (applied.from) query.set('from', new Date(applied.from).toISOString());
  if (applied.to) query.set('to', new Date(applied.to).toISOString());
  const filtered = query.toString();
  const path = pagePath(`${user.isAdmin ? '/api/admin/audit' : '/api/audit'}${filtered ? `?${filtered}` : ''}`, AUDIT_PAGE, token);
  const audit = useQuery({
    queryKey: ['audit', path],
    queryFn: () => api.get<Paged & { records: AuditRecord[] }>(path),
  });
  const apply = (e: FormEvent) => {
    e.preventDefault();
    setApplied(filters);
    setPages([undefined]);
  };
  const set = (key: keyof typeof filters) => (value: string) => setFilters((f) => ({ ...f, [key]: value }));
  return (
    <section aria-labelledby="audit-heading">
      <h1 id="audit-heading">Audit trail</h1>
      <form onSubmit={apply} className="card filters" aria-label="Filters">
        {user.isAdmin ? <Field label="Tenant" name="tenant" value={filters.tenant} onChange={set('tenant')} /> : null}
        <Field label="Action" name="action" value={filters.action} onChange={set('action')} hint="e.g. model.create, key.rotate, kubectl" />
        <Field label="From" name="from" type="datetime-local" value={filters.from} onChange={set('from')} />
        <Field label="To" name="to" type="datetime-local" value={filters.to} onChange={set('to')} />
        <button type="submit">Apply</button>
      </form>
      <ErrorMessage error={audit.error} />
      {audit.data ? (
        <>
          <Table
            label="Audit events"
            head={['Time', 'Actor', 'Tenant', 'Action', 'Target', 'Outcome', 'Source']}
            rows={audit.data.records.map((r) => [new Date(r.time).toLocaleString(), r.actor, r.tenant ?? '', r.count > 1 ? `${r.action} ×${r.count}` : r.action, r.target ?? '', `${r.outcome} (${r.status})`, r.sourceIp ?? ''])}
          />
          <div className="actions">
            <button type="button" className="secondary" disabled={pages.length < 2} onClick={() => setPages((p) => p.slice(0, -1))}>
              Previous page
            </button>
            <button type="button" className="secondary" disabled={!audit.data.continue} onClick={() => setPages((p) => [...p, audit.data!.continue ?? undefined])}>
              Next page
            </button>
          </div>
        </>
      ) : null}
    </section>
  );
}

interface Entry {
  command: string;
  output: string;
  refused: boolean;
}

export function KubectlPage() {
  const [command, setCommand] = useState('get pods -A');
  const [history, setHistory] = useState<Entry[]>([]);
  const [cursor, setCursor] = useState(-1);
  const run = useMutation({
    mutationFn: (c: string) => api.post<{ result: string; command: string }>('/api/admin/kubectl', { command: c }),
    onSuccess: (r, c) => setHistory((h) => [{ command: c, output: r.result, refused: false }, ...h].slice(0, 50)),
    onError: (err, c) => setHistory((h) => [{ command: c, output: err instanceof ApiError ? `${err.error}${err.details ? `\n${err.details}` : ''}` : String(err), refused: true }, ...h].slice(0, 50)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!command.trim()) return;
    setCursor(-1);
    run.mutate(command.trim());
  };
  const recall = (e: KeyboardEvent<HTMLInputElement>) => {
    // Up and down walk the command history, as in a shell.
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    e.preventDefault();
    const next = Math.max(-1, Math.min(history.length - 1, cursor + (e.key === 'ArrowUp' ? 1 : -1)));
    setCursor(next);
    setCommand(next === -1 ? '' : history[next].command);
  };
  return (
    <section aria-labelledby="kubectl-heading">
      <h1 id="kubectl-heading">kubectl console</h1>
      <p className="hint">Read-only: get, describe and logs of the resources the service manages. Up and down arrows recall earlier commands.</p>
      <form onSubmit={submit} className="kubectl-form">
        <label htmlFor="kubectl-command">kubectl</label>
        <input id="kubectl-command" value={command} onChange={(e) => setCommand(e.target.value)} onKeyDown={recall} autoComplete="off" spellCheck={false} className="mono" />
        <button type="submit" disabled={run.isPending}>
          Run
        </button>
      </form>
      <div aria-live="polite" data-testid="kubectl-output">
        {history.map((h, i) => (
          <div key={history.length - i} className="kubectl-entry">
            <p className="mono">$ kubectl {h.command}</p>
            {h.refused ? (
              <pre className="output refused" tabIndex={0} role={i === 0 ? 'alert' : undefined}>
                {h.output}
              </pre>
            ) : (
              <pre className="output" tabIndex={0}>{h.output}</pre>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}
