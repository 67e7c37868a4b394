{{/* Chart name, truncated to 63 characters. */}}
{{- define "sbc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-<chart> unless the release name already contains the chart name. */}}
{{- define "sbc.fullname" -}}
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

{{/* A derived name: full name (shortened to leave room) plus a suffix. */}}
{{- define "sbc.suffixed" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "sbc.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}

{{- define "sbc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable for the life of the release. */}}
{{- define "sbc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sbc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object, without the component. */}}
{{- define "sbc.commonLabels" -}}
helm.sh/chart: {{ include "sbc.chart" . }}
{{ include "sbc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sbc
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of every object of the SIP edge (all but the metrics Service). */}}
{{- define "sbc.labels" -}}
{{ include "sbc.commonLabels" . }}
app.kubernetes.io/component: sip-edge
{{- end -}}

{{- define "sbc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sbc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sbc.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the serving certificate, or "" for the SBC's development certificate. */}}
{{- define "sbc.tlsSecretName" -}}
{{- if eq .Values.tls.source "secret" -}}
{{- required "tls.existingSecret is required with tls.source=secret" .Values.tls.existingSecret -}}
{{- else if eq .Values.tls.source "certManager" -}}
{{- default (include "sbc.suffixed" (list . "tls")) .Values.tls.certManager.secretName -}}
{{- end -}}
{{- end -}}

{{/*
Distinct SIP ports as a YAML list of {name, transport, protocol, port, servicePort}, one per
transport/port pair (two listeners on different addresses can share one).
*/}}
{{- define "sbc.sipPorts" -}}
{{- $seen := dict -}}
{{- $ports := list -}}
{{- range .Values.config.listeners -}}
{{- $port := int (default (ternary 5061 5060 (eq .transport "tls")) .port) -}}
{{- $name := printf "%s-%d" .transport $port -}}
{{- if not (hasKey $seen $name) -}}
{{- $_ := set $seen $name true -}}
{{- $ports = append $ports (dict "name" $name "transport" .transport "protocol" (ternary "UDP" "TCP" (eq .transport "udp")) "port" $port "servicePort" (int (default $port .servicePort))) -}}
{{- end -}}
{{- end -}}
{{- toYaml $ports -}}
{{- end -}}

{{/* True ("true") when the monitoring.coreos.com/v1 objects may be rendered. */}}
{{- define "sbc.monitoringApi" -}}
{{- if or .Values.monitoring.skipCapabilityCheck (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}
true
{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: preStop sleep + shutdown grace (rounded up) + slack, or the explicit value. */}}
{{- define "sbc.terminationGracePeriod" -}}
{{- $graceMs := 2000 -}}
{{- if hasKey .Values.config.transport "shutdown_grace_ms" -}}
{{- $graceMs = int .Values.config.transport.shutdown_grace_ms -}}
{{- end -}}
{{- $needed := add .Values.lifecycle.preStopSleepSeconds (div (add $graceMs 999) 1000) -}}
{{- $computed := add $needed .Values.lifecycle.terminationSlackSeconds 1 -}}
{{- with .Values.lifecycle.terminationGracePeriodSeconds -}}
{{- if le (int .) (int $needed) -}}
{{- fail (printf "lifecycle.terminationGracePeriodSeconds (%d) must be larger than preStopSleepSeconds + shutdown_grace_ms (%d s)" (int .) (int $needed)) -}}
{{- end -}}
{{- int . -}}
{{- else -}}
{{- $computed -}}
{{- end -}}
{{- end -}}

{{/* Cross-value checks the JSON schema cannot express. */}}
{{- define "sbc.validate" -}}
{{- if and .Values.hostNetwork (eq .Values.kind "Deployment") (ne .Values.podAntiAffinity "hard") -}}
{{- fail "hostNetwork with kind Deployment needs podAntiAffinity=hard (two pods on one node would both bind the node's SIP ports); or use kind: DaemonSet" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (not (or .Values.autoscaling.targetCPUUtilizationPercentage .Values.autoscaling.targetMemoryUtilizationPercentage)) -}}
{{- fail "autoscaling.enabled needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (eq .Values.kind "DaemonSet") -}}
{{- fail "autoscaling.enabled applies to kind Deployment only" -}}
{{- end -}}
{{- if and .Values.tls.requireClientCertificate (not .Values.tls.clientCA.secretName) -}}
{{- fail "tls.requireClientCertificate needs tls.clientCA.secretName" -}}
{{- end -}}
{{- if eq .Values.tls.source "certManager" -}}
{{- if not .Values.tls.certManager.issuerRef.name -}}
{{- fail "tls.certManager.issuerRef.name is required with tls.source=certManager" -}}
{{- end -}}
{{- if not (or .Values.tls.certManager.dnsNames .Values.tls.certManager.ipAddresses) -}}
{{- fail "tls.certManager needs at least one of dnsNames or ipAddresses" -}}
{{- end -}}
{{- end -}}
{{- $core := include "sbc.coreValues" . | fromYaml -}}
{{- $probe := int (default 0 $core.probeIntervalMs) -}}
{{- if and (gt $probe 0) (lt $probe 100) -}}
{{- fail (printf "core.probeIntervalMs must be 0 (no probes) or at least 100 (got %d)" $probe) -}}
{{- end -}}
{{- $coreCa := dig "tls" "ca" dict $core -}}
{{- if and $coreCa.secretName $coreCa.configMapName -}}
{{- fail "core.tls.ca: set secretName or configMapName, not both" -}}
{{- end -}}
{{- $media := default dict .Values.config.media -}}
{{- if and $media.enabled (not $media.rtpengine) -}}
{{- fail "config.media.enabled needs at least one config.media.rtpengine instance" -}}
{{- end -}}
{{- $limits := .Values.config.sip.limits -}}
{{- if gt (int (default 8192 $limits.max_line_bytes)) (int (default 65535 $limits.max_message_bytes)) -}}
{{- fail "config.sip.limits.max_line_bytes must not exceed max_message_bytes" -}}
{{- end -}}
{{- range (include "sbc.sipPorts" . | fromYamlArray) -}}
{{- if eq (int .port) (int $.Values.config.metrics.port) -}}
{{- fail (printf "config.metrics.port %d collides with listener %s" (int .port) .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The core values as a dict. The older form of `core`, a plain list of targets, stands for
core.targets with the SBC's defaults for the rest.
*/}}
{{- define "sbc.coreValues" -}}
{{- if kindIs "slice" .Values.core -}}
{{- toYaml (dict "targets" .Values.core) -}}
{{- else -}}
{{- toYaml (default dict .Values.core) -}}
{{- end -}}
{{- end -}}

{{/* The core targets as a YAML list of {uri, priority?, weight?}, whichever form the values use. */}}
{{- define "sbc.coreTargets" -}}
{{- $core := include "sbc.coreValues" . | fromYaml -}}
{{- $targets := list -}}
{{- range (default list $core.targets) -}}
{{- if kindIs "string" . -}}
{{- $targets = append $targets (dict "uri" .) -}}
{{- else -}}
{{- $targets = append $targets . -}}
{{- end -}}
{{- end -}}
{{- toYaml $targets -}}
{{- end -}}

{{/* The IP address of a core URI (sip:IP[:PORT][;...], IPv6 in brackets), as a /32 or /128 CIDR. */}}
{{- define "sbc.coreCidr" -}}
{{- $ip := regexReplaceAll "^sip:\\[?([0-9a-fA-F:.]+?)\\]?(:[0-9]+)?(;.*)?$" . "${1}" -}}
{{- if contains ":" $ip -}}{{ $ip }}/128{{- else -}}{{ $ip }}/32{{- end -}}
{{- end -}}

{{/* Where the core's CA bundle is mounted from: "secret", "configMap" or "". */}}
{{- define "sbc.coreCaSource" -}}
{{- $core := include "sbc.coreValues" . | fromYaml -}}
{{- $ca := dig "tls" "ca" dict $core -}}
{{- if $ca.secretName -}}secret{{- else if $ca.configMapName -}}configMap{{- end -}}
{{- end -}}

{{/* True ("true") when the pods may not share one relay token key: several pods and no key Secret. */}}
{{- define "sbc.tokenKeyMissing" -}}
{{- if not .Values.relay.tokenKeys.existingSecret -}}
{{- if or (eq .Values.kind "DaemonSet") .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) -}}
true
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The trial Redis (cluster.redis.trial): labels of its own, so that no selector of the SBC (its
Deployment, Services, PodDisruptionBudget, NetworkPolicy, ServiceMonitor) picks its pod or Service.
*/}}
{{- define "sbc.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-redis" (include "sbc.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sbc.redisLabels" -}}
helm.sh/chart: {{ include "sbc.chart" . }}
{{ include "sbc.redisSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.cluster.redis.trial.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sbc
app.kubernetes.io/component: cluster-store
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The address the SBC is given as cluster.redis.address, or "" (standalone). The trial Redis is
reached through its Service's ClusterIP (the chart keeps addresses, which its NetworkPolicy
needs, though the SBC would resolve a name): Kubernetes passes it
to every container started after the Service as <SERVICE>_SERVICE_HOST (service links), and the
SBC expands ${NAME} at load. In brackets, which the SBC takes for IPv4 and IPv6 alike.
*/}}
{{- define "sbc.clusterAddress" -}}
{{- $redis := .Values.cluster.redis -}}
{{- if $redis.address -}}
{{- $redis.address -}}
{{- else if $redis.trial.enabled -}}
{{- $svc := include "sbc.suffixed" (list . "redis") | upper | replace "-" "_" -}}
{{- printf "[${%s_SERVICE_HOST}]:6379" $svc -}}
{{- end -}}
{{- end -}}
