{{/* The SBC's configuration file (/etc/sbc/sbc.yaml). */}}
{{- define "sbc.config" -}}
# Rendered by the {{ .Chart.Name }} chart {{ .Chart.Version }}; edit values.yaml, not this file.
workers: {{ int .Values.config.workers }}
listeners:
{{- $tlsSecret := include "sbc.tlsSecretName" . }}
{{- range .Values.config.listeners }}
  - transport: {{ .transport }}
    address: {{ default "::" .address | quote }}
    port: {{ int (default (ternary 5061 5060 (eq .transport "tls")) .port) }}
    {{- with .advertise }}
    advertise: {{ . | quote }}
    {{- end }}
    {{- if eq .transport "tls" }}
    tls:
      {{- if $tlsSecret }}
      certificates:
        - chain: /etc/sbc/tls/tls.crt
          key: /etc/sbc/tls/tls.key
      {{- else }}
      certificates: []  # tls.source=none: the SBC's self-signed development certificate
      {{- end }}
      {{- if $.Values.tls.clientCA.secretName }}
      client_ca: /etc/sbc/tls-client-ca/{{ $.Values.tls.clientCA.key }}
      {{- end }}
      require_client_certificate: {{ $.Values.tls.requireClientCertificate }}
    {{- end }}
{{- end }}
{{- with .Values.config.transport }}
transport:
  {{- range $k, $v := . }}
  {{ $k }}: {{ int64 $v }}
  {{- end }}
{{- end }}
{{- with .Values.config.sip }}
sip:
  {{- with .limits }}
  limits:
    {{- range $k, $v := . }}
    {{ $k }}: {{ int64 $v }}
    {{- end }}
  {{- end }}
  proxy_require_supported: {{ toJson (default list .proxy_require_supported) }}
{{- end }}
{{- with .Values.config.log }}
log:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $policy := deepCopy .Values.config.policy }}
{{- $auth := deepCopy (default dict $policy.auth) }}
{{- if .Values.auth.credentials.existingSecret }}
{{- $_ := set $auth "credentials_file" (printf "/etc/sbc/auth/%s" .Values.auth.credentials.key) }}
{{- end }}
{{- if .Values.auth.nonceKey.existingSecret }}
{{- $_ := set $auth "nonce_key" "${SBC_NONCE_KEY}" }}
{{- end }}
{{- if $auth }}
{{- $_ := set $policy "auth" $auth }}
{{- end }}
{{- with $policy }}
policy:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.config.capture }}
capture:
  {{- toYaml (merge (dict "directory" "/var/lib/sbc/capture") (omit .Values.config.capture "directory")) | nindent 2 }}
{{- end }}
{{- with .Values.config.dns }}
dns:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.config.media }}
media:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with include "sbc.clusterAddress" . }}
{{- $redis := $.Values.cluster.redis }}
cluster:
  redis:
    address: {{ . | quote }}
    {{- if $redis.passwordSecret.name }}
    password_file: /etc/sbc/redis/{{ $redis.passwordSecret.key }}
    {{- if $redis.username }}
    username: {{ $redis.username | quote }}
    {{- end }}
    {{- end }}
    database: {{ int $redis.database }}
    key_prefix: {{ $redis.keyPrefix | quote }}
    timeout_ms: {{ int $redis.timeoutMs }}
    max_queued: {{ int $redis.maxQueued }}
{{- end }}
metrics:
  {{- /* "": all addresses, but with hostNetwork only the pod's (= the node's), not every node address. */}}
  address: {{ .Values.config.metrics.address | default (ternary "${POD_IP}" "0.0.0.0" .Values.hostNetwork) | quote }}
  port: {{ int .Values.config.metrics.port }}
{{- $core := include "sbc.coreValues" . | fromYaml }}
{{- $targets := include "sbc.coreTargets" . | fromYamlArray }}
core:
  {{- if $targets }}
  targets:
    {{- range $targets }}
    - uri: {{ .uri | quote }}
      {{- if hasKey . "priority" }}
      priority: {{ int .priority }}
      {{- end }}
      {{- if hasKey . "weight" }}
      weight: {{ int .weight }}
      {{- end }}
    {{- end }}
  {{- else }}
  targets: []  # no core: every request the edge does not answer itself gets 503
  {{- end }}
  {{- with $core.localAddress }}
  local_address: {{ . | quote }}
  {{- end }}
  {{- if hasKey $core "localPort" }}
  local_port: {{ int $core.localPort }}
  {{- end }}
  {{- if hasKey $core "strictSourcePort" }}
  strict_source_port: {{ $core.strictSourcePort }}
  {{- end }}
  {{- with $core.probe }}
  probe: {{ . }}
  {{- end }}
  {{- if hasKey $core "probeIntervalMs" }}
  probe_interval_ms: {{ int64 $core.probeIntervalMs }}
  {{- end }}
  {{- if hasKey $core "failoverTimeoutMs" }}
  failover_timeout_ms: {{ int64 $core.failoverTimeoutMs }}
  {{- end }}
  {{- if hasKey $core "connectTimeoutMs" }}
  connect_timeout_ms: {{ int64 $core.connectTimeoutMs }}
  {{- end }}
  {{- with $core.tls }}
  tls:
    {{- if hasKey . "verify" }}
    verify: {{ .verify }}
    {{- end }}
    {{- if include "sbc.coreCaSource" $ }}
    ca_file: /etc/sbc/core-ca/{{ .ca.key }}
    {{- end }}
    {{- if .serverName }}
    server_name: {{ .serverName | quote }}
    {{- end }}
    {{- if dig "clientCertificate" "secretName" "" . }}
    certificate:
      chain: /etc/sbc/core-client/tls.crt
      key: /etc/sbc/core-client/tls.key
    {{- end }}
  {{- end }}
relay:
  topology_hiding: {{ .Values.relay.topologyHiding }}
  mask_call_id: {{ .Values.relay.maskCallId }}
  {{- if .Values.relay.tokenKeys.existingSecret }}
  token_key_file: /etc/sbc/relay-keys/{{ .Values.relay.tokenKeys.key }}
  {{- end }}
  {{- with .Values.config.relay }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
