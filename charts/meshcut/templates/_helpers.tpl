{{/* Names, labels and values shared by the templates. */}}

{{- define "meshcut.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "meshcut.agentName" -}}{{ include "meshcut.fullname" . }}-agent{{- end -}}
{{- define "meshcut.webhookName" -}}{{ include "meshcut.fullname" . }}-webhook{{- end -}}
{{- define "meshcut.webhookSecret" -}}{{ include "meshcut.fullname" . }}-webhook-tls{{- end -}}
{{- define "meshcut.uninstallName" -}}{{ include "meshcut.fullname" . }}-uninstall{{- end -}}

{{- define "meshcut.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Labels of every object; "component" selects agent, webhook or uninstall. */}}
{{- define "meshcut.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "meshcut.selectorLabels" . }}
{{- end -}}

{{- define "meshcut.selectorLabels" -}}
app.kubernetes.io/name: meshcut
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The DNS names the webhook's Service answers to. */}}
{{- define "meshcut.webhookDNSNames" -}}
{{- $svc := include "meshcut.webhookName" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson -}}
{{- end -}}

{{/* How the webhook gets its TLS: helm, certManager or existingSecret.
     webhook.certManager.enabled (the value before webhook.tls.method) still
     means certManager, so a values file from before keeps its TLS; only an
     explicit existingSecret beside it is a contradiction. */}}
{{- define "meshcut.tlsMethod" -}}
{{- $w := .Values.webhook -}}
{{- $m := dig "tls" "method" "helm" $w | default "helm" -}}
{{- if dig "certManager" "enabled" false $w -}}
{{- if eq $m "existingSecret" -}}
{{- fail "webhook.certManager.enabled=true and webhook.tls.method=existingSecret: pick one (certManager.enabled means webhook.tls.method=certManager)" -}}
{{- end -}}
certManager
{{- else -}}
{{- $m -}}
{{- end -}}
{{- end -}}

{{/* The Secret the webhook mounts. */}}
{{- define "meshcut.webhookTLSSecret" -}}
{{- if eq (include "meshcut.tlsMethod" .) "existingSecret" -}}
{{- .Values.webhook.tls.existingSecret.name -}}
{{- else -}}
{{- include "meshcut.webhookSecret" . -}}
{{- end -}}
{{- end -}}
