import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, modelPath, request } from '../api';
import { age, CopyButton, Dialog, ErrorMessage, Field, fieldOf, StatusBadge } from '../components';
import { href } from '../router';
import type { User } from '../session';
import type { Model, Publication } from '../types';
import { defaultPublishForm, publishBody, validatePublish, type Errors, type PublishForm } from '../validation';
import { ModelFormView } from './Models';
import { UsagePanel } from './Usage';

export function ModelPage({ user, namespace, name }: { user: User; namespace: string; name: string }) {
  const ns = user.isAdmin || namespace !== user.tenant ? namespace : undefined;
  const model = useQuery({ queryKey: ['model', namespace, name], queryFn: () => api.get<Model>(modelPath(name, ns)) });
  const [editing, setEditing] = useState(false);
  return (
    <section aria-labelledby="model-heading">
      <p>
        <a href={href({ page: 'models' })}>← Models</a>
      </p>
      <h1 id="model-heading">
        {name} <span className="muted">in {namespace}</span>
      </h1>
      <ErrorMessage error={model.error} />
      {model.data ? (
        <>
          <Details model={model.data} />
          <div className="actions">
            <button type="button" className="secondary" onClick={() => setEditing((e) => !e)} aria-expanded={editing}>
              {editing ? 'Cancel edit' : 'Edit'}
            </button>
            <DeleteModel name={name} ns={ns} />
          </div>
          {editing ? <EditModel model={model.data} ns={ns} onDone={() => setEditing(false)} /> : null}
          <PredictPanel name={name} ns={ns} ready={model.data.ready} />
          <PublicationPanel name={name} ns={ns} tenant={namespace} ready={model.data.ready} />
        </>
      ) : null}
    </section>
  );
}

function Details({ model }: { model: Model }) {
  const r = model.statusDetails.replicas;
  return (
    <div className="card">
      <dl className="details">
        <dt>Status</dt>
        <dd data-testid="detail-status">
          <StatusBadge status={model.status} ready={model.ready} />
        </dd>
        <dt>URL</dt>
        <dd className="url">{model.url ?? '—'}</dd>
        <dt>Framework</dt>
        <dd>{model.predictor.framework}</dd>
        <dt>Storage URI</dt>
        <dd className="url">{model.predictor.storageUri}</dd>
        <dt>Replicas (ready / desired / total)</dt>
        <dd>
          {r.ready} / {r.desired} / {r.total} (min {model.predictor.minReplicas ?? 'default'}, max {model.predictor.maxReplicas ?? 'default'})
        </dd>
        <dt>Age</dt>
        <dd>{age(model.createdAt)}</dd>
      </dl>
      <h2>Conditions</h2>
      {model.statusDetails.conditions.length === 0 ? (
        <p>None reported yet.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Status</th>
                <th scope="col">Reason</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {model.statusDetails.conditions.map((c) => (
                <tr key={c.type}>
                  <th scope="row">{c.type}</th>
                  <td>{c.status}</td>
                  <td>{c.reason ?? ''}</td>
                  <td>{c.message ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function EditModel({ model, ns, onDone }: { model: Model; ns?: string; onDone: () => void }) {
  const queryClient = useQueryClient();
  const p = model.predictor;
  return (
    <ModelFormView
      initial={{ name: model.name, framework: p.framework, storageUri: p.storageUri, minReplicas: String(p.minReplicas ?? ''), maxReplicas: String(p.maxReplicas ?? ''), scaleTarget: String(p.scaleTarget ?? ''), scaleMetric: p.scaleMetric ?? '' }}
      creating={false}
      tenant={model.namespace}
      askTenant={false}
      submitLabel="Save"
      submit={async (body) => {
        const answer = await api.put(modelPath(model.name, ns), body);
        void queryClient.invalidateQueries({ queryKey: ['model', model.namespace, model.name] });
        onDone();
        return answer;
      }}
    />
  );
}

function DeleteModel({ name, ns }: { name: string; ns?: string }) {
  const [open, setOpen] = useState(false);
  const mutation = useMutation({
    mutationFn: () => api.del(modelPath(name, ns)),
    onSuccess: () => {
      setOpen(false);
      window.location.hash = '#/models';
    },
  });
  return (
    <>
      <button type="button" className="danger" onClick={() => setOpen(true)}>
        Delete
      </button>
      <Dialog title={`Delete ${name}?`} open={open} onClose={() => setOpen(false)}>
        <p>This deletes the model and its InferenceService, and unpublishes it. It cannot be undone.</p>
        <ErrorMessage error={mutation.error} />
        <div className="actions">
          <button type="button" className="danger" onClick={() => mutation.mutate()} disabled={mutation.isPending}>
            Delete {name}
          </button>
          <button type="button" className="secondary" onClick={() => setOpen(false)}>
            Cancel
          </button>
        </div>
      </Dialog>
    </>
  );
}

function PredictPanel({ name, ns, ready }: { name: string; ns?: string; ready: boolean }) {
  const [input, setInput] = useState('{\n  "instances": [[6.8, 2.8, 4.8, 1.4]]\n}');
  const [parseError, setParseError] = useState<string | undefined>();
  const [answer, setAnswer] = useState<{ status: number; ms: number; body: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const send = async (e: FormEvent) => {
    e.preventDefault();
    let inputData: unknown;
    try {
      inputData = JSON.parse(input);
    } catch (err) {
      setParseError(`Not JSON: ${(err as Error).message}`);
      return;
    }
    setParseError(undefined);
    setBusy(true);
    const started = performance.now();
    try {
      const r = await request<unknown>('POST', modelPath(name, ns, '/predict'), { inputData });
      setAnswer({ status: r.status, ms: r.ms, body: JSON.stringify(r.body, null, 2) });
    } catch (err) {
      const ms = Math.round(performance.now() - started);
      setAnswer(err instanceof ApiError ? { status: err.status, ms, body: JSON.stringify({ error: err.error, details: err.details }, null, 2) } : { status: 0, ms, body: String(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby="predict-heading">
      <h2 id="predict-heading">Try it</h2>
      <form onSubmit={send}>
        <div className="field">
          <label htmlFor="predict-input">Input (JSON sent as inputData)</label>
          <textarea id="predict-input" rows={5} value={input} onChange={(e) => setInput(e.target.value)} aria-invalid={!!parseError} aria-describedby={parseError ? 'predict-error' : undefined} spellCheck={false} />
          {parseError ? (
            <small id="predict-error" className="field-error">
              {parseError}
            </small>
          ) : null}
        </div>
        <button type="submit" disabled={busy}>
          {ready ? 'Predict' : 'Predict (model not Ready)'}
        </button>
      </form>
      {answer ? (
        <div aria-live="polite" data-testid="predict-answer">
          <p>
            Status <strong>{answer.status}</strong> in {answer.ms} ms
          </p>
          <pre className="output" tabIndex={0}>{answer.body}</pre>
        </div>
      ) : null}
    </section>
  );
}

function PublicationPanel({ name, ns, tenant, ready }: { name: string; ns?: string; tenant: string; ready: boolean }) {
  const queryClient = useQueryClient();
  const publication = useQuery({
    queryKey: ['publication', tenant, name],
    queryFn: async () => {
      try {
        return await api.get<Publication>(modelPath(name, ns, '/publish'));
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
  });
  const [publishing, setPublishing] = useState(false);
  const [shownKey, setShownKey] = useState<{ key: string; title: string; until?: string | null } | null>(null);
  const [grace, setGrace] = useState('300');
  const [confirmUnpublish, setConfirmUnpublish] = useState(false);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['publication', tenant, name] });
  const rotate = useMutation({
    mutationFn: () => api.post<{ newApiKey: string; oldKeyValidUntil?: string | null }>(modelPath(name, ns, '/publish/rotate-key'), { gracePeriodSeconds: Number(grace) }),
    onSuccess: (r) => {
      setShownKey({ key: r.newApiKey, title: 'New API key', until: r.oldKeyValidUntil });
      void refresh();
    },
  });
  const unpublish = useMutation({
    mutationFn: () => api.del(modelPath(name, ns, '/publish')),
    onSuccess: () => {
      setConfirmUnpublish(false);
      void refresh();
    },
  });
  const p = publication.data;
  return (
    <section className="card" aria-labelledby="publish-heading">
      <h2 id="publish-heading">Publication</h2>
      <ErrorMessage error={publication.error} />
      {p === null ? (
        <>
          <p>Not published.</p>
          <button type="button" onClick={() => setPublishing(true)} disabled={!ready}>
            Publish…
          </button>
          {!ready ? <p className="hint">A model can be published once it is Ready.</p> : null}
        </>
      ) : null}
      {p ? (
        <>
          <dl className="details">
            <dt>Type</dt>
            <dd>{p.modelType}</dd>
            <dt>External URL</dt>
            <dd className="url">{p.externalUrl}</dd>
            <dt>API key</dt>
            <dd data-testid="masked-key">{p.apiKey}</dd>
            <dt>Limits</dt>
            <dd>
              {p.rateLimiting.requestsPerMinute}/min, {p.rateLimiting.requestsPerHour}/hour, burst {p.rateLimiting.burstLimit}
              {p.rateLimiting.tokensPerHour ? `, ${p.rateLimiting.tokensPerHour} tokens/hour` : ''}
            </dd>
            <dt>Usage</dt>
            <dd data-testid="usage-total">
              {p.usage.totalRequests} requests ({p.usage.requestsToday} today){p.modelType === 'openai' ? `, ${p.usage.tokensUsed} tokens` : ''}
            </dd>
          </dl>
          <div className="actions">
            <div className="field inline">
              <label htmlFor="grace">Old key keeps working for</label>
              <select id="grace" value={grace} onChange={(e) => setGrace(e.target.value)}>
                <option value="0">no grace period</option>
                <option value="300">5 minutes</option>
                <option value="3600">1 hour</option>
                <option value="86400">1 day</option>
              </select>
            </div>
            <button type="button" className="secondary" onClick={() => rotate.mutate()} disabled={rotate.isPending}>
              Rotate key
            </button>
            <button type="button" className="danger" onClick={() => setConfirmUnpublish(true)}>
              Unpublish
            </button>
          </div>
          <ErrorMessage error={rotate.error} />
          <UsagePanel name={name} ns={ns} tenant={tenant} tokens={p.modelType === 'openai'} />
          {p.documentation ? <DocsBlock docs={p.documentation} /> : null}
        </>
      ) : null}
      <PublishDialog
        open={publishing}
        name={name}
        ns={ns}
        tenant={tenant}
        onClose={() => setPublishing(false)}
        onPublished={(key) => {
          setPublishing(false);
          setShownKey({ key, title: 'API key' });
          void refresh();
        }}
      />
      <Dialog title={shownKey?.title ?? 'API key'} open={!!shownKey} onClose={() => setShownKey(null)}>
        {shownKey ? <KeyOnce apiKey={shownKey.key} until={shownKey.until} /> : null}
      </Dialog>
      <Dialog title={`Unpublish ${name}?`} open={confirmUnpublish} onClose={() => setConfirmUnpublish(false)}>
        <p>The public route is removed and the key stops working.</p>
        <ErrorMessage error={unpublish.error} />
        <div className="actions">
          <button type="button" className="danger" onClick={() => unpublish.mutate()} disabled={unpublish.isPending}>
            Unpublish {name}
          </button>
          <button type="button" className="secondary" onClick={() => setConfirmUnpublish(false)}>
            Cancel
          </button>
        </div>
      </Dialog>
    </section>
  );
}

function KeyOnce({ apiKey, until }: { apiKey: string; until?: string | null }) {
  return (
    <div>
      <p className="warning" role="alert">
        Copy this key now: it is shown only once and cannot be shown again. Store it like a password.
      </p>
      <p>
        <code className="key" data-testid="full-key">
          {apiKey}
        </code>
      </p>
      <CopyButton text={apiKey} label="Copy key" />
      {until ? <p>The previous key keeps working until {new Date(until).toLocaleString()}.</p> : null}
    </div>
  );
}

function DocsBlock({ docs }: { docs: NonNullable<Publication['documentation']> }) {
  const order = ['curl', 'python', 'javascript'];
  const names = Object.keys(docs.sdkExamples).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return (
    <section aria-labelledby="docs-heading">
      <h3 id="docs-heading">How to call it</h3>
      <p>
        Endpoint: <code>{docs.endpointUrl}</code> (the key goes in <code>X-API-Key</code>)
      </p>
      {names.map((lang) => (
        <div key={lang} className="snippet">
          <div className="snippet-head">
            <h4>{lang === 'javascript' ? 'JavaScript' : lang === 'python' ? 'Python' : lang}</h4>
            <CopyButton text={docs.sdkExamples[lang]} label={`Copy ${lang} example`} />
          </div>
          <pre className="output" tabIndex={0}>{docs.sdkExamples[lang]}</pre>
        </div>
      ))}
    </section>
  );
}

function PublishDialog({ open, name, ns, tenant, onClose, onPublished }: { open: boolean; name: string; ns?: string; tenant: string; onClose: () => void; onPublished: (key: string) => void }) {
  const [form, setForm] = useState<PublishForm>(() => defaultPublishForm(name));
  const [errors, setErrors] = useState<Errors>({});
  const mutation = useMutation({
    mutationFn: (body: Record<string, unknown>) => api.post<{ publishedModel: Publication }>(modelPath(name, ns, '/publish'), body),
    onSuccess: (r) => onPublished(r.publishedModel.apiKey),
  });
  const set = (key: keyof PublishForm) => (value: string) => setForm((f) => ({ ...f, [key]: value }));
  const apiField = fieldOf(mutation.error);
  const shown = (key: string) => errors[key] ?? (apiField === key ? (mutation.error as ApiError).details ?? (mutation.error as ApiError).error : undefined);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = validatePublish(form);
    setErrors(found);
    if (Object.keys(found).length === 0) mutation.mutate(publishBody(form, tenant));
  };
  return (
    <Dialog title={`Publish ${name}`} open={open} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <div className="grid">
          <Field label="Type" name="modelType" value={form.modelType} onChange={set('modelType')} options={['traditional', 'openai']} error={shown('modelType')} />
          <Field label="Public hostname" name="publicHostname" value={form.publicHostname} onChange={set('publicHostname')} error={shown('publicHostname')} required />
          {form.modelType === 'traditional' ? <Field label="Path" name="externalPath" value={form.externalPath} onChange={set('externalPath')} error={shown('externalPath')} required /> : null}
          <Field label="Requests per minute" name="requestsPerMinute" type="number" value={form.requestsPerMinute} onChange={set('requestsPerMinute')} error={shown('requestsPerMinute')} />
          <Field label="Requests per hour" name="requestsPerHour" type="number" value={form.requestsPerHour} onChange={set('requestsPerHour')} error={shown('requestsPerHour')} />
          <Field label="Burst limit" name="burstLimit" type="number" value={form.burstLimit} onChange={set('burstLimit')} error={shown('burstLimit')} />
          {form.modelType === 'openai' ? <Field label="Tokens per hour" name="tokensPerHour" type="number" value={form.tokensPerHour} onChange={set('tokensPerHour')} error={shown('tokensPerHour')} hint="0: no token limit" /> : null}
        </div>
        <ErrorMessage error={mutation.error} />
        <button type="submit" disabled={mutation.isPending}>
          Publish
        </button>
      </form>
    </Dialog>
  );
}
