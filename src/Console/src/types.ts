export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface Model {
  name: string;
  namespace: string;
  status: string;
  ready: boolean;
  url?: string | null;
  predictor: {
    framework: string;
    storageUri: string;
    minReplicas?: number | null;
    maxReplicas?: number | null;
    scaleTarget?: number | null;
    scaleMetric?: string | null;
  };
  createdAt: string;
  updatedAt: string;
  statusDetails: {
    ready: boolean;
    phase: string;
    replicas: { desired: number; ready: number; total: number };
    conditions: Condition[];
  };
}

export interface Usage {
  totalRequests: number;
  requestsToday: number;
  tokensUsed: number;
  lastAccessTime?: string | null;
}

export interface Publication {
  modelName: string;
  namespace: string;
  tenantId: string;
  modelType: string;
  externalUrl: string;
  publicHostname: string;
  externalPath: string;
  apiKey: string;
  rateLimiting: { requestsPerMinute: number; requestsPerHour: number; tokensPerHour: number; burstLimit: number };
  status: string;
  createdAt: string;
  updatedAt: string;
  expiresAt?: string | null;
  usage: Usage;
  documentation?: {
    endpointUrl: string;
    authHeaders: Record<string, string>;
    sdkExamples: Record<string, string>;
  } | null;
}

/** One `/ws` message. */
export interface LiveEvent {
  type: string;
  tenant?: string;
  kind?: string;
  name?: string;
  time?: string;
  sequence?: number;
  resource?: unknown;
  scope?: string;
}
