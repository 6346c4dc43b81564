{{/* Base name of the release's objects: the release name, plus -fjord when it does not say fjord. */}}
{{- define "fjord.base" -}}
{{- if contains "fjord" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-fjord" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of the operator's objects. */}}
{{- define "fjord.operator.fullname" -}}
{{- printf "%s-operator" (include "fjord.base" .) -}}
{{- end -}}

{{/* Name of the API's objects. */}}
{{- define "fjord.api.fullname" -}}
{{- printf "%s-api" (include "fjord.base" .) -}}
{{- end -}}

{{/* The image every component runs. */}}
{{- define "fjord.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* ServiceAccount the operator runs as. */}}
{{- define "fjord.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "fjord.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ServiceAccount the API runs as. */}}
{{- define "fjord.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create -}}
{{- default (include "fjord.api.fullname" .) .Values.api.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.api.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels common to every object of the release. part-of=fjord lets the operator and the
API reach the brokers' HTTP port through their NetworkPolicy. */}}
{{- define "fjord.commonLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: fjord
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels selecting the operator's pods (never change on a live release). */}}
{{- define "fjord.operator.selectorLabels" -}}
app.kubernetes.io/name: fjord-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Every label of the operator's objects. */}}
{{- define "fjord.operator.labels" -}}
app.kubernetes.io/name: fjord-operator
app.kubernetes.io/component: operator
{{ include "fjord.commonLabels" . }}
{{- end -}}

{{/* Labels selecting the API's pods. */}}
{{- define "fjord.api.selectorLabels" -}}
app.kubernetes.io/name: fjord-api
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Every label of the API's objects. */}}
{{- define "fjord.api.labels" -}}
app.kubernetes.io/name: fjord-api
app.kubernetes.io/component: api
{{ include "fjord.commonLabels" . }}
{{- end -}}

{{/* The Secret and key holding the database URL, when there is one. */}}
{{- define "fjord.api.databaseSecret" -}}
{{- if .Values.api.database.existingSecret -}}
{{- .Values.api.database.existingSecret -}}
{{- else if .Values.api.database.url -}}
{{- printf "%s-database" (include "fjord.api.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security settings shared by the operator and the API. */}}
{{- define "fjord.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "fjord.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
