import { describe, expect, test } from 'vitest';
import { ApiError } from '../src/api';
import { defaultPublishForm, emptyModelForm, modelBody, publishBody, validateModel, validatePublish } from '../src/validation';

describe('the model form checks as the API does', () => {
  const valid = { ...emptyModelForm, name: 'iris', storageUri: 'gs://b/m' };

  test('a valid form has no errors and sends only what was given', () => {
    expect(validateModel(valid, true)).toEqual({});
    expect(modelBody({ ...valid, maxReplicas: '3' }, true)).toEqual({ name: 'iris', framework: 'sklearn', storageUri: 'gs://b/m', minReplicas: 1, maxReplicas: 3 });
  });

  test.each([
    ['name', { name: '' }],
    ['name', { name: 'Iris' }],
    ['name', { name: '1iris' }],
    ['name', { name: 'iris-' }],
    ['name', { name: 'a'.repeat(46) }],
    ['framework', { framework: 'caffe' }],
    ['storageUri', { storageUri: '' }],
    ['storageUri', { storageUri: 'ftp://x/y' }],
    ['storageUri', { storageUri: 'gs://b/m m' }],
    ['minReplicas', { minReplicas: '-1' }],
    ['minReplicas', { minReplicas: '3', maxReplicas: '2' }],
    ['maxReplicas', { maxReplicas: '0' }],
    ['maxReplicas', { maxReplicas: '101' }],
    ['maxReplicas', { maxReplicas: '1.5' }],
    ['scaleTarget', { scaleTarget: '0' }],
    ['scaleMetric', { scaleMetric: 'latency' }],
  ])('%s is refused: %o', (field, change) => {
    expect(Object.keys(validateModel({ ...valid, ...change }, true))).toEqual([field]);
  });

  test('an edit does not ask for the name', () => {
    expect(validateModel({ ...valid, name: '' }, false)).toEqual({});
    expect(modelBody(valid, false)).not.toHaveProperty('name');
  });
});

describe('the publish form', () => {
  test('defaults are valid and become the API body', () => {
    const form = defaultPublishForm('iris');
    expect(validatePublish(form)).toEqual({});
    expect(publishBody(form, 'tenant-a')).toEqual({
      config: { tenantId: 'tenant-a', modelType: 'traditional', publicHostname: 'api.router.inference-in-a-box', externalPath: '/models/iris', rateLimiting: { requestsPerMinute: 60, requestsPerHour: 1000, burstLimit: 10 } },
    });
  });

  test('refuses a bad hostname, path and limits, and per minute over per hour', () => {
    const form = { ...defaultPublishForm('iris'), publicHostname: 'Bad Host', externalPath: 'models', burstLimit: '0', requestsPerMinute: '2000' };
    expect(Object.keys(validatePublish(form)).sort()).toEqual(['burstLimit', 'externalPath', 'publicHostname', 'requestsPerMinute']);
  });

  test('openai publications have no path and may carry a token limit', () => {
    const form = { ...defaultPublishForm('llm'), modelType: 'openai', externalPath: '', tokensPerHour: '5000' };
    expect(validatePublish(form)).toEqual({});
    expect(publishBody(form, 'tenant-a')).toMatchObject({ config: { modelType: 'openai', rateLimiting: { tokensPerHour: 5000 } } });
    expect(publishBody(form, 'tenant-a').config).not.toHaveProperty('externalPath');
  });
});

describe("the API's errors", () => {
  test("name the field they are about, so a form shows them by it", () => {
    expect(new ApiError(400, 'Invalid request format', "Field 'storageUri' must not name a loopback address").field).toBe('storageUri');
    expect(new ApiError(400, 'Invalid request format', "Field 'rateLimiting.burstLimit' must be at least 1").field).toBe('rateLimiting.burstLimit');
    expect(new ApiError(409, 'Model already exists').field).toBeUndefined();
  });
});
