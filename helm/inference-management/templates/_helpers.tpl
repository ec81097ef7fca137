{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "inference-management.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name. */}}
{{- define "inference-management.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "inference-management.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "inference-management.labels" -}}
helm.sh/chart: {{ include "inference-management.chart" . }}
{{ include "inference-management.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: inference-in-a-box
{{- end }}

{{- define "inference-management.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inference-management.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Service accounts: silos and API hosts get different rights (see rbac.yaml). */}}
{{- define "inference-management.siloServiceAccountName" -}}
{{- default (printf "%s-silo" (include "inference-management.fullname" .)) .Values.serviceAccount.siloName }}
{{- end }}
{{- define "inference-management.apihostServiceAccountName" -}}
{{- default (printf "%s-apihost" (include "inference-management.fullname" .)) .Values.serviceAccount.apihostName }}
{{- end }}

{{/* topologySpreadConstraints of one component ("root", "component", "constraints"): a constraint without a
labelSelector spreads that component's pods. */}}
{{- define "inference-management.topologySpread" -}}
{{- $root := .root }}
{{- range .constraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $labels := include "inference-management.selectorLabels" $root | fromYaml }}
{{- $_ := set $labels "app.kubernetes.io/component" $.component }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $labels) }}
{{- end }}
- {{ toYaml $constraint | nindent 2 | trim }}
{{- end }}
{{- end }}

{{/* Fails unless the kubelet waits for the graceful shutdown ("name", "grace", "needed"). */}}
{{- define "inference-management.checkGrace" -}}
{{- if le (int .grace) (int .needed) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be longer than the shutdown it bounds (%d s): the kubelet would kill the process mid-shutdown" .name (int .grace) (int .needed)) }}
{{- end }}
{{- end }}

{{- define "inference-management.clusterId" -}}
{{- default .Release.Name .Values.orleans.clusterId }}
{{- end }}

{{- define "inference-management.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* Names of the Secrets: the existing one when given, else the one this chart creates. */}}
{{- define "inference-management.storageSecret" -}}
{{- default (printf "%s-storage" (include "inference-management.fullname" .)) .Values.secrets.storage.existingSecret }}
{{- end }}
{{- define "inference-management.jwtSecret" -}}
{{- default (printf "%s-jwt" (include "inference-management.fullname" .)) .Values.secrets.jwt.existingSecret }}
{{- end }}
{{- define "inference-management.adminSecret" -}}
{{- default (printf "%s-admin" (include "inference-management.fullname" .)) .Values.secrets.admin.existingSecret }}
{{- end }}

{{- define "inference-management.keySigningSecret" -}}
{{- default (printf "%s-key-signing" (include "inference-management.fullname" .)) .Values.secrets.keySigning.existingSecret }}
{{- end }}

{{/* Name of the Secret with the cluster's TLS files (tls.crt, tls.key, ca.crt). */}}
{{- define "inference-management.tlsSecret" -}}
{{- default (printf "%s-cluster-tls" (include "inference-management.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{/* Environment shared by silos and API hosts: Orleans (with its TLS), storage, Kubernetes, logging. */}}
{{- define "inference-management.commonEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- if .Values.metrics.enabled }}
- name: METRICS_PORT
  value: {{ .Values.metrics.port | quote }}
{{- end }}
- name: Cluster__Clustering
  value: AzureTable
- name: Cluster__ServiceId
  value: {{ .Values.orleans.serviceId | quote }}
- name: Cluster__ClusterId
  value: {{ include "inference-management.clusterId" . | quote }}
- name: Cluster__TablePrefix
  value: {{ .Values.orleans.tablePrefix | quote }}
- name: ConnectionStrings__Storage
  valueFrom:
    secretKeyRef:
      name: {{ include "inference-management.storageSecret" . }}
      key: {{ .Values.secrets.storage.key }}
{{- if .Values.tls.enabled }}
# Mutual TLS on the silo and gateway ports: only pods holding a certificate of this release's CA are peers.
- name: Cluster__Tls__CertificatePath
  value: /etc/inference-management/cluster-tls/tls.crt
- name: Cluster__Tls__KeyPath
  value: /etc/inference-management/cluster-tls/tls.key
- name: Cluster__Tls__CaPath
  value: /etc/inference-management/cluster-tls/ca.crt
{{- else }}
- name: Cluster__Tls__Disabled
  value: "true"
{{- end }}
- name: Kubernetes__TenantLabel
  value: {{ .Values.kubernetes.tenantLabel | quote }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
# Where published models' gateway objects go, and how the gateway's external authorization reaches this service.
- name: Gateway__Namespace
  value: {{ .Values.gateway.namespace | quote }}
- name: Gateway__GatewayName
  value: {{ .Values.gateway.name | quote }}
- name: Gateway__AuthServiceName
  value: {{ include "inference-management.fullname" . | quote }}
- name: Gateway__AuthServiceNamespace
  value: {{ .Release.Namespace | quote }}
- name: Gateway__AuthServicePort
  value: {{ .Values.apihost.validation.servicePort | quote }}
# The API port, where the gateway falls back while the validation port has no ready API host (during an upgrade that
# adds it or turns it on); on or off, so that policies written while it is off survive turning it on.
- name: Gateway__AuthServiceFallbackPort
  value: {{ .Values.apihost.service.port | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The cluster TLS Secret as a volume and its mount, for silos and API hosts alike (when tls.enabled). */}}
{{- define "inference-management.tlsVolume" -}}
- name: cluster-tls
  secret:
    secretName: {{ include "inference-management.tlsSecret" . }}
    # Owner root, group fsGroup (podSecurityContext): readable by the app user and no one else.
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      - key: ca.crt
        path: ca.crt
{{- end }}
{{/* The writable /tmp a read-only root filesystem needs (.NET's diagnostics sockets, temporary files). */}}
{{- define "inference-management.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "inference-management.tlsVolumeMount" -}}
- name: cluster-tls
  mountPath: /etc/inference-management/cluster-tls
  readOnly: true
{{- end }}

{{/* Seconds as hh:mm:ss, the form .NET binds a TimeSpan from ("45" alone would be 45 days). */}}
{{- define "inference-management.duration" -}}
{{- $s := int . -}}
{{- printf "%02d:%02d:%02d" (div $s 3600) (mod (div $s 60) 60) (mod $s 60) -}}
{{- end }}

{{/* Pod annotations for annotation-based Prometheus scraping of the metrics port. */}}
{{- define "inference-management.metricsAnnotations" -}}
{{- if and .Values.metrics.enabled .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* The metrics container port. */}}
{{- define "inference-management.metricsPort" -}}
{{- if .Values.metrics.enabled }}
- name: metrics
  containerPort: {{ .Values.metrics.port }}
  protocol: TCP
{{- end }}
{{- end }}
