// The API's own rules (README "Validation", src/Grains/Models/ModelRules.cs), checked before sending so a form can
// point at the field at once; the API still decides, and its {error, details} is shown next to the field it names.
export const FRAMEWORKS = ['sklearn', 'xgboost', 'lightgbm', 'tensorflow', 'pytorch', 'onnx', 'triton', 'pmml', 'paddle', 'huggingface', 'mlflow'];
export const SCALE_METRICS = ['concurrency', 'rps', 'cpu', 'memory'];
const SCHEMES = ['s3', 'gs', 'pvc', 'hf', 'oci', 'https'];
const MAX_NAME = 45;
const MAX_REPLICAS = 100;

export type Errors = Record<string, string>;

export interface ModelForm {
  name: string;
  framework: string;
  storageUri: string;
  minReplicas: string;
  maxReplicas: string;
  scaleTarget: string;
  scaleMetric: string;
}

export const emptyModelForm: ModelForm = { name: '', framework: 'sklearn', storageUri: '', minReplicas: '1', maxReplicas: '1', scaleTarget: '', scaleMetric: '' };

function integer(text: string): number | null | undefined {
  if (text.trim() === '') return undefined;
  return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : null;
}

export function validateModel(form: ModelForm, creating: boolean): Errors {
  const errors: Errors = {};
  if (creating) {
    if (!form.name) errors.name = 'Required.';
    else if (form.name.length > MAX_NAME || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(form.name))
      errors.name = `A lowercase DNS label: letters, digits and '-', starting with a letter, ending with a letter or digit, at most ${MAX_NAME} characters.`;
  }
  if (!FRAMEWORKS.includes(form.framework)) errors.framework = `One of: ${FRAMEWORKS.join(', ')}.`;
  const uri = form.storageUri.trim();
  if (!uri) errors.storageUri = 'Required.';
  else if (/\s/.test(uri) || uri.length > 2048) errors.storageUri = 'A URI of at most 2048 characters without spaces.';
  else if (!SCHEMES.some((s) => uri.startsWith(`${s}://`))) errors.storageUri = `Must start with one of: ${SCHEMES.map((s) => `${s}://`).join(', ')}.`;
  const min = integer(form.minReplicas);
  const max = integer(form.maxReplicas);
  if (min === null || (min !== undefined && (min < 0 || min > MAX_REPLICAS))) errors.minReplicas = `A whole number from 0 to ${MAX_REPLICAS}.`;
  if (max === null || (max !== undefined && (max < 1 || max > MAX_REPLICAS))) errors.maxReplicas = `A whole number from 1 to ${MAX_REPLICAS}.`;
  if (typeof min === 'number' && typeof max === 'number' && !errors.minReplicas && !errors.maxReplicas && min > max)
    errors.minReplicas = 'Must not be greater than max replicas.';
  const target = integer(form.scaleTarget);
  if (target === null || (target !== undefined && target < 1)) errors.scaleTarget = 'A positive whole number.';
  if (form.scaleMetric && !SCALE_METRICS.includes(form.scaleMetric)) errors.scaleMetric = `One of: ${SCALE_METRICS.join(', ')}.`;
  return errors;
}

/** The body the API takes; empty optional fields are left out. */
export function modelBody(form: ModelForm, creating: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { framework: form.framework, storageUri: form.storageUri.trim() };
  if (creating) body.name = form.name;
  for (const key of ['minReplicas', 'maxReplicas', 'scaleTarget'] as const) {
    const value = integer(form[key]);
    if (typeof value === 'number') body[key] = value;
  }
  if (form.scaleMetric) body.scaleMetric = form.scaleMetric;
  return body;
}

export interface PublishForm {
  modelType: string;
  publicHostname: string;
  externalPath: string;
  requestsPerMinute: string;
  requestsPerHour: string;
  tokensPerHour: string;
  burstLimit: string;
}

export function defaultPublishForm(model: string): PublishForm {
  return { modelType: 'traditional', publicHostname: 'api.router.inference-in-a-box', externalPath: `/models/${model}`, requestsPerMinute: '60', requestsPerHour: '1000', tokensPerHour: '', burstLimit: '10' };
}

export function validatePublish(form: PublishForm): Errors {
  const errors: Errors = {};
  if (!['traditional', 'openai'].includes(form.modelType)) errors.modelType = 'traditional or openai.';
  if (!form.publicHostname || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(form.publicHostname) || form.publicHostname.length > 253)
    errors.publicHostname = 'A lowercase DNS name, e.g. api.example.com.';
  if (form.modelType === 'traditional' && !/^\/[A-Za-z0-9._~\-/]*$/.test(form.externalPath)) errors.externalPath = "A path starting with '/'.";
  for (const key of ['requestsPerMinute', 'requestsPerHour', 'burstLimit', 'tokensPerHour'] as const) {
    const value = integer(form[key]);
    if (value === null || (value !== undefined && value < (key === 'tokensPerHour' ? 0 : 1))) errors[key] = key === 'tokensPerHour' ? 'A whole number, 0 or more.' : 'A positive whole number.';
  }
  const perMinute = integer(form.requestsPerMinute);
  const perHour = integer(form.requestsPerHour);
  if (!errors.requestsPerMinute && !errors.requestsPerHour && typeof perMinute === 'number' && typeof perHour === 'number' && perMinute > perHour)
    errors.requestsPerMinute = 'Must not exceed requests per hour.';
  return errors;
}

export function publishBody(form: PublishForm, tenant: string): Record<string, unknown> {
  const limits: Record<string, number> = {};
  for (const key of ['requestsPerMinute', 'requestsPerHour', 'tokensPerHour', 'burstLimit'] as const) {
    const value = integer(form[key]);
    if (typeof value === 'number') limits[key] = value;
  }
  const config: Record<string, unknown> = { tenantId: tenant, modelType: form.modelType, publicHostname: form.publicHostname, rateLimiting: limits };
  if (form.modelType === 'traditional') config.externalPath = form.externalPath;
  return { config };
}
