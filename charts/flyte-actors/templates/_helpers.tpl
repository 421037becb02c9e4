{{/* The chart's name, at most 63 characters (a DNS label). */}}
{{- define "flyte-actors.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the chart's objects: the release name, with the chart's unless it holds it. */}}
{{- define "flyte-actors.fullname" -}}
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

{{/* Labels of every object. */}}
{{- define "flyte-actors.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "flyte-actors.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The ConfigMap with the propeller configuration of the plugin. */}}
{{- define "flyte-actors.configMapName" -}}
{{- printf "%s-propeller-config" (include "flyte-actors.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* What executor pods dial: the advertise address given, or this chart's Service ({shard}: the pool's
shard, in a sharded FlytePropeller, whose pool serves the Service <fullname>-<shard>). */}}
{{- define "flyte-actors.advertiseAddress" -}}
{{- if .Values.executorService.advertiseAddress -}}
{{- .Values.executorService.advertiseAddress -}}
{{- else -}}
{{- printf "%s{shard}.%s.svc.%s:%d" (include "flyte-actors.fullname" .) .Release.Namespace .Values.executorService.clusterDomain (int .Values.executorService.port) -}}
{{- end -}}
{{- end -}}

{{/* The executor image reference, empty when task images hold the executor (executor.inject false). */}}
{{- define "flyte-actors.executorImage" -}}
{{- if .Values.executor.inject -}}
{{- with .Values.executor.image -}}
{{- printf "%s:%s" (required "executor.image.repository: set it to the registry and name you pushed the actor-executor image to (make images IMAGE_PREFIX=...; see the chart's README)" .repository) (default $.Chart.AppVersion .tag) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The propeller image reference, which must be named. */}}
{{- define "flyte-actors.propellerImage" -}}
{{- required "propeller.image.repository: set it to the registry and name you pushed this project's flytepropeller image to (make images IMAGE_PREFIX=...; see the chart's README)" .Values.propeller.image.repository -}}
{{- end -}}

{{/* The files-mode TLS Secret, which must be named. */}}
{{- define "flyte-actors.tlsFilesSecret" -}}
{{- required "tls.files.secretName is required when tls.mode is files: the Secret with tls.crt, tls.key and ca.crt" .Values.tls.files.secretName -}}
{{- end -}}
