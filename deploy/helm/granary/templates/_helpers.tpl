{{/* The five gRPC services, in a fixed order. */}}
{{- define "granary.grpcServices" -}}
customer credit fieldtask notification process
{{- end -}}

{{- define "granary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "granary.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "granary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "granary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "granary.labels" -}}
{{ include "granary.selectorLabels" . }}
app.kubernetes.io/part-of: granary
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- if eq .Values.manifestStyle "helm" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "credit") */}}
{{- define "granary.componentLabels" -}}
{{ include "granary.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "granary.componentSelectorLabels" -}}
{{ include "granary.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "granary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "granary.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "granary.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Effective settings of a component: componentDefaults merged with components.<name>. */}}
{{- define "granary.component" -}}
{{- $c := mergeOverwrite (deepCopy .root.Values.componentDefaults) (deepCopy (index .root.Values.components .component)) -}}
{{- toYaml $c -}}
{{- end -}}

{{- define "granary.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s-nats:4222" .Release.Name -}}
{{- else -}}
{{- .Values.externalNats.url -}}
{{- end -}}
{{- end -}}

{{- define "granary.cnpgClusterName" -}}
{{- printf "%s-%s-db" (include "granary.fullname" .root) .service -}}
{{- end -}}

{{/* Non-secret settings as name: value pairs (ConfigMap data and the migration Job's env). */}}
{{- define "granary.settings" -}}
{{- $root := . -}}
{{- $full := include "granary.fullname" . -}}
GRANARY_ENV: {{ .Values.config.env | quote }}
GRANARY_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
GRANARY_VAR_DIR: "/var/lib/granary"
GRANARY_NATS_URL: {{ include "granary.natsUrl" . | quote }}
GRANARY_NATS_STREAM: {{ .Values.config.natsStream | quote }}
GRANARY_GRPC_DEADLINE_SECONDS: {{ .Values.config.grpcDeadlineSeconds | quote }}
GRANARY_SHUTDOWN_GRACE_SECONDS: {{ .Values.config.shutdownGraceSeconds | quote }}
GRANARY_OTEL_EXPORTER: {{ .Values.config.otel.exporter | quote }}
{{- if .Values.config.otel.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .Values.config.otel.endpoint | quote }}
{{- end }}
OTEL_SERVICE_NAME: "granary"
GRANARY_GATEWAY_HOST: "0.0.0.0"
GRANARY_GATEWAY_PORT: {{ .Values.components.gateway.port | quote }}
{{- range $svc := splitList " " (include "granary.grpcServices" .) }}
{{- $port := (index $root.Values.components $svc).port }}
{{- $up := upper $svc }}
GRANARY_{{ $up }}_GRPC_HOST: "0.0.0.0"
GRANARY_{{ $up }}_GRPC_PORT: {{ $port | quote }}
GRANARY_{{ $up }}_ADDRESS: {{ printf "%s-%s:%v" $full $svc $port | quote }}
{{- end }}
{{- range $k, $v := .Values.config.extraEnv }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* Secret env of the platform keys. */}}
{{- define "granary.platformSecretEnv" -}}
- name: GRANARY_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.platform.name }}
      key: {{ .Values.secrets.platform.jwtSecretKey }}
- name: GRANARY_FIELD_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.platform.name }}
      key: {{ .Values.secrets.platform.fieldEncryptionKeyKey }}
{{- end -}}

{{/* Database URL env of one service: (dict "root" $ "service" "credit"). */}}
{{- define "granary.databaseEnv" -}}
{{- $up := upper .service -}}
{{- if .root.Values.cnpg.enabled -}}
{{- $cluster := include "granary.cnpgClusterName" . -}}
- name: CNPG_{{ $up }}_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $cluster }}-app
      key: username
- name: CNPG_{{ $up }}_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $cluster }}-app
      key: password
- name: GRANARY_{{ $up }}_DATABASE_URL
  value: {{ printf "postgresql+asyncpg://$(CNPG_%s_USERNAME):$(CNPG_%s_PASSWORD)@%s-rw:5432/%s" $up $up $cluster .service | quote }}
{{- else -}}
{{- $ref := index .root.Values.secrets.databases .service -}}
- name: GRANARY_{{ $up }}_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end -}}
{{- end -}}

{{- define "granary.volumes" -}}
- name: var
  emptyDir:
    sizeLimit: 256Mi
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "granary.volumeMounts" -}}
- name: var
  mountPath: /var/lib/granary
- name: tmp
  mountPath: /tmp
{{- end -}}
