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
metrics:
  address: {{ .Values.config.metrics.address | quote }}
  port: {{ int .Values.config.metrics.port }}
{{- if .Values.core }}
# core (the internal SIP core; not read by this SBC version yet, so not a key here):
{{- range .Values.core }}
#   - {{ . }}
{{- end }}
{{- end }}
{{- end -}}
