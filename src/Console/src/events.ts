import type { LiveEvent, Model } from './types';

/** What the models table shows for one scope (a tenant, or every tenant for an admin), and the last sequence seen
 * per tenant: the /ws contract's sequence only grows within a tenant, so an older or repeated one is ignored (an
 * event that raced a REST re-read must not undo it). */
export interface ModelsState {
  models: Model[];
  sequences: Record<string, number>;
}

export const emptyModels: ModelsState = { models: [], sequences: {} };

/** A fresh REST read: the table as the server has it now; sequences start over (events are not replayed). */
export function fromList(models: Model[]): ModelsState {
  return { models: sortModels(models), sequences: {} };
}

function sortModels(models: Model[]): Model[] {
  return [...models].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

function isModel(resource: unknown): resource is Model {
  const r = resource as Partial<Model> | null;
  return !!r && typeof r.name === 'string' && typeof r.namespace === 'string' && typeof r.status === 'string';
}

/** Applies one /ws event to the models table of `scope` (a tenant; '' for every tenant); events about other kinds
 * (publications, keys, usage) or other tenants leave it as is. */
export function modelsReducer(state: ModelsState, event: LiveEvent, scope = ''): ModelsState {
  if (!event.type.startsWith('model.') || event.kind !== 'model' || !isModel(event.resource)) return state;
  const tenant = event.tenant ?? event.resource.namespace;
  if (scope && tenant !== scope) return state;
  if (typeof event.sequence === 'number') {
    const last = state.sequences[tenant];
    if (last !== undefined && event.sequence <= last) return state;
  }
  const sequences = typeof event.sequence === 'number' ? { ...state.sequences, [tenant]: event.sequence } : state.sequences;
  const model = event.resource;
  const others = state.models.filter((m) => !(m.name === model.name && m.namespace === model.namespace));
  if (event.type === 'model.deleted') return { models: others, sequences };
  return { models: sortModels([...others, model]), sequences };
}

export type Connection =
  | { state: 'connecting'; attempt: number }
  | { state: 'connected' }
  | { state: 'reconnecting'; attempt: number; retryInMs: number }
  | { state: 'signed-out' };

/** Exponential backoff with jitter for reconnecting /ws: 0.5 s doubling up to 30 s. */
export function backoffMs(attempt: number, random = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}
