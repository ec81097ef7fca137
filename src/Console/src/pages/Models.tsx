import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, listAll, withNamespace } from '../api';
import { age, ErrorMessage, Field, fieldOf, StatusBadge } from '../components';
import { fromList, type ModelsState } from '../events';
import { href } from '../router';
import type { User } from '../session';
import type { Model } from '../types';
import { emptyModelForm, FRAMEWORKS, modelBody, SCALE_METRICS, validateModel, type Errors, type ModelForm } from '../validation';

export function useTenants(enabled: boolean) {
  return useQuery({
    queryKey: ['tenants'],
    queryFn: () => api.get<{ tenants: { name: string; models: number; publications: number; status: string; labelled: boolean; created?: string }[] }>('/api/admin/tenants'),
    enabled,
  });
}

export function ModelsPage({ user }: { user: User }) {
  // Admins choose one tenant or all ('' = every tenant); a tenant user sees their own.
  const [scope, setScope] = useState(user.isAdmin ? '' : user.tenant);
  const tenants = useTenants(user.isAdmin);
  const models = useQuery({
    queryKey: ['models', scope],
    queryFn: async (): Promise<ModelsState> => fromList(await listAll<Model>(withNamespace('/api/models', user.isAdmin ? scope : undefined), 'models')),
  });
  const [creating, setCreating] = useState(false);
  return (
    <section aria-labelledby="models-heading">
      <div className="page-head">
        <h1 id="models-heading">Models</h1>
        {user.isAdmin ? (
          <div className="field inline">
            <label htmlFor="tenant-scope">Tenant</label>
            <select id="tenant-scope" value={scope} onChange={(e) => setScope(e.target.value)}>
              <option value="">All tenants</option>
              {(tenants.data?.tenants ?? []).map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        <button type="button" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
          {creating ? 'Cancel' : 'Create model'}
        </button>
      </div>
      {creating ? <CreateModel user={user} tenant={scope} onDone={() => setCreating(false)} /> : null}
      <ErrorMessage error={models.error} />
      {models.isPending ? <p>Loading…</p> : null}
      {models.data ? <ModelsTable models={models.data.models} showTenant={user.isAdmin && !scope} /> : null}
    </section>
  );
}

function ModelsTable({ models, showTenant }: { models: Model[]; showTenant: boolean }) {
  if (models.length === 0) return <p>No models yet.</p>;
  return (
    <div className="table-wrap">
      <table data-testid="models-table">
        <caption className="visually-hidden">Models, updated live</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            {showTenant ? <th scope="col">Tenant</th> : null}
            <th scope="col">Status</th>
            <th scope="col">Ready</th>
            <th scope="col">Replicas</th>
            <th scope="col">URL</th>
            <th scope="col">Age</th>
          </tr>
        </thead>
        <tbody>
          {models.map((m) => (
            <tr key={`${m.namespace}/${m.name}`} data-model={m.name}>
              <th scope="row">
                <a href={href({ page: 'model', namespace: m.namespace, name: m.name })}>{m.name}</a>
              </th>
              {showTenant ? <td>{m.namespace}</td> : null}
              <td data-testid="status">
                <StatusBadge status={m.status} ready={m.ready} />
              </td>
              <td>{m.ready ? 'yes' : 'no'}</td>
              <td>
                {m.statusDetails.replicas.ready}/{m.statusDetails.replicas.desired}
              </td>
              <td className="url">{m.url ?? ''}</td>
              <td>{age(m.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The model form, for create and edit: checks as the API does, then shows the API's own answer by its field. */
export function ModelFormView({ initial, creating, tenant, askTenant, submit, submitLabel }: {
  initial: ModelForm;
  creating: boolean;
  tenant: string;
  askTenant: boolean;
  submit: (body: Record<string, unknown>) => Promise<unknown>;
  submitLabel: string;
}) {
  const [form, setForm] = useState(initial);
  const [namespace, setNamespace] = useState(tenant);
  const [errors, setErrors] = useState<Errors>({});
  const mutation = useMutation({ mutationFn: submit });
  const set = (key: keyof ModelForm) => (value: string) => setForm((f) => ({ ...f, [key]: value }));
  const apiField = fieldOf(mutation.error);
  const apiText = mutation.error && apiField ? (mutation.error as { details?: string }).details : undefined;
  const shown = (key: string) => errors[key] ?? (apiField === key ? apiText : undefined);

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const found = validateModel(form, creating);
    if (askTenant && !namespace) found.namespace = 'Choose the tenant (namespace) for the model.';
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    const body = modelBody(form, creating);
    if (askTenant) body.namespace = namespace;
    mutation.mutate(body);
  };

  return (
    <form onSubmit={onSubmit} noValidate className="card" aria-label={submitLabel}>
      <div className="grid">
        {askTenant ? <Field label="Tenant (namespace)" name="namespace" value={namespace} onChange={setNamespace} error={shown('namespace')} required /> : null}
        {creating ? <Field label="Name" name="name" value={form.name} onChange={set('name')} error={shown('name')} required hint="Lowercase letters, digits and '-'" /> : null}
        <Field label="Framework" name="framework" value={form.framework} onChange={set('framework')} options={FRAMEWORKS} error={shown('framework')} required />
        <Field label="Storage URI" name="storageUri" value={form.storageUri} onChange={set('storageUri')} error={shown('storageUri')} required hint="s3://, gs://, pvc://, hf://, oci:// or https://" />
        <Field label="Min replicas" name="minReplicas" value={form.minReplicas} onChange={set('minReplicas')} error={shown('minReplicas')} type="number" />
        <Field label="Max replicas" name="maxReplicas" value={form.maxReplicas} onChange={set('maxReplicas')} error={shown('maxReplicas')} type="number" />
        <Field label="Scale target" name="scaleTarget" value={form.scaleTarget} onChange={set('scaleTarget')} error={shown('scaleTarget')} type="number" />
        <Field label="Scale metric" name="scaleMetric" value={form.scaleMetric} onChange={set('scaleMetric')} options={['', ...SCALE_METRICS]} error={shown('scaleMetric')} />
      </div>
      {mutation.error && !apiField ? <ErrorMessage error={mutation.error} /> : null}
      {mutation.error && apiField ? <ErrorMessage error={mutation.error} /> : null}
      <button type="submit" disabled={mutation.isPending}>
        {submitLabel}
      </button>
    </form>
  );
}

function CreateModel({ user, tenant, onDone }: { user: User; tenant: string; onDone: () => void }) {
  const queryClient = useQueryClient();
  return (
    <ModelFormView
      initial={emptyModelForm}
      creating
      tenant={tenant}
      askTenant={user.isAdmin}
      submitLabel="Create"
      submit={async (body) => {
        const answer = await api.post('/api/models', body);
        // The table is updated by the model.created event; a re-read covers a socket that is reconnecting.
        void queryClient.invalidateQueries({ queryKey: ['models'] });
        onDone();
        return answer;
      }}
    />
  );
}
