{{/* Name of the operator's objects: <release>-operator, or <release>-fjord-operator when the
release name does not say fjord. */}}
{{- define "fjord.operator.fullname" -}}
{{- if contains "fjord" .Release.Name -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-fjord-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* ServiceAccount the operator runs as. */}}
{{- define "fjord.operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fjord.operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels selecting the operator's pods (never change on a live release). */}}
{{- define "fjord.operator.selectorLabels" -}}
app.kubernetes.io/name: fjord-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Every label of the operator's objects. part-of=fjord lets it reach the brokers' HTTP port. */}}
{{- define "fjord.operator.labels" -}}
{{ include "fjord.operator.selectorLabels" . }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: fjord
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}
