import { describe, expect, test } from 'vitest';
import { backoffMs, emptyModels, fromList, modelsReducer } from '../src/events';
import type { LiveEvent, Model } from '../src/types';

function model(name: string, namespace = 'tenant-a', status = 'Pending'): Model {
  return {
    name,
    namespace,
    status,
    ready: status === 'Ready',
    url: null,
    predictor: { framework: 'sklearn', storageUri: 'gs://b/m' },
    createdAt: '2026-11-30T10:00:00Z',
    updatedAt: '2026-11-30T10:00:00Z',
    statusDetails: { ready: status === 'Ready', phase: status, replicas: { desired: 1, ready: 0, total: 0 }, conditions: [] },
  };
}

function event(type: string, resource: Model, sequence?: number, kind = 'model'): LiveEvent {
  return { type, tenant: resource.namespace, kind, name: resource.name, sequence, resource };
}

describe('the /ws event reducer', () => {
  test('a created model appears, a status change replaces it, a deletion removes it', () => {
    let state = modelsReducer(emptyModels, event('model.created', model('iris'), 1));
    expect(state.models.map((m) => m.status)).toEqual(['Pending']);
    state = modelsReducer(state, event('model.status', model('iris', 'tenant-a', 'Ready'), 2));
    expect(state.models).toHaveLength(1);
    expect(state.models[0].ready).toBe(true);
    state = modelsReducer(state, event('model.deleted', model('iris', 'tenant-a', 'Ready'), 3));
    expect(state.models).toEqual([]);
  });

  test('an event older than one already applied (same tenant) changes nothing', () => {
    let state = modelsReducer(emptyModels, event('model.status', model('iris', 'tenant-a', 'Ready'), 5));
    state = modelsReducer(state, event('model.status', model('iris', 'tenant-a', 'Pending'), 4));
    expect(state.models[0].status).toBe('Ready');
    // Sequences are per tenant: another tenant's lower number is not "older".
    state = modelsReducer(state, event('model.created', model('iris', 'tenant-b'), 1));
    expect(state.models.map((m) => `${m.namespace}/${m.name}`)).toEqual(['tenant-a/iris', 'tenant-b/iris']);
  });

  test("a tenant's table ignores other tenants' events; the all-tenants table takes them", () => {
    const other = event('model.created', model('x', 'tenant-b'), 1);
    expect(modelsReducer(emptyModels, other, 'tenant-a')).toBe(emptyModels);
    expect(modelsReducer(emptyModels, other, '').models).toHaveLength(1);
  });

  test('events about publications, keys and usage leave the table alone', () => {
    const state = fromList([model('iris')]);
    expect(modelsReducer(state, { type: 'model.published', tenant: 'tenant-a', kind: 'publication', name: 'iris', sequence: 9, resource: {} })).toBe(state);
    expect(modelsReducer(state, { type: 'usage.summary', tenant: 'tenant-a', kind: 'publication', name: 'iris', resource: {} })).toBe(state);
    expect(modelsReducer(state, { type: 'model.status', tenant: 'tenant-a', kind: 'model', name: 'iris', resource: { broken: true } })).toBe(state);
  });

  test('a REST re-read starts the sequences over (events are not replayed across reconnects)', () => {
    let state = modelsReducer(emptyModels, event('model.status', model('iris'), 900));
    state = fromList(state.models);
    state = modelsReducer(state, event('model.status', model('iris', 'tenant-a', 'Ready'), 3));
    expect(state.models[0].status).toBe('Ready');
  });
});

describe('reconnect backoff', () => {
  test('doubles from half a second up to 30 s, with jitter within half of it', () => {
    expect(backoffMs(1, () => 0)).toBe(250);
    expect(backoffMs(1, () => 1)).toBe(500);
    expect(backoffMs(3, () => 1)).toBe(2000);
    expect(backoffMs(20, () => 1)).toBe(30_000);
    expect(backoffMs(20, () => 0)).toBe(15_000);
  });
});
