{{/* The SBC pod template, shared by the Deployment and the DaemonSet. */}}
{{- define "sbc.podTemplate" -}}
{{- $tlsSecret := include "sbc.tlsSecretName" . -}}
{{- $coreCa := include "sbc.coreCaSource" . -}}
{{- $coreClient := dig "tls" "clientCertificate" "secretName" "" (include "sbc.coreValues" . | fromYaml) -}}
metadata:
  labels:
    {{- include "sbc.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: sip-edge
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "sbc.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sbc.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.hostNetwork }}
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ include "sbc.terminationGracePeriod" . }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: sbc
      image: {{ include "sbc.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["--config", "/etc/sbc/sbc.yaml"]
      env:
        # The pod's and the node's addresses, for ${POD_IP} / ${NODE_IP} in the configuration
        # (listeners[].advertise, core.localAddress): the SBC expands them at load.
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        - name: NODE_IP
          valueFrom:
            fieldRef:
              fieldPath: status.hostIP
        {{- with .Values.auth.nonceKey.existingSecret }}
        # policy.auth.nonce_key is "${SBC_NONCE_KEY}": the same key in every pod.
        - name: SBC_NONCE_KEY
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $.Values.auth.nonceKey.key }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        {{- range (include "sbc.sipPorts" . | fromYamlArray) }}
        - name: {{ .name }}
          containerPort: {{ .port }}
          protocol: {{ .protocol }}
        {{- end }}
        - name: metrics
          containerPort: {{ .Values.config.metrics.port }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      lifecycle:
        preStop:
          exec:
            # Keep serving while endpoints and load balancers drop this pod; SIGTERM follows.
            command: ["sleep", "{{ .Values.lifecycle.preStopSleepSeconds }}"]
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/sbc/sbc.yaml
          subPath: sbc.yaml
          readOnly: true
        {{- if $tlsSecret }}
        # Mounted as a directory (no subPath) so a renewed certificate appears in place.
        - name: tls
          mountPath: /etc/sbc/tls
          readOnly: true
        {{- end }}
        {{- if .Values.tls.clientCA.secretName }}
        - name: client-ca
          mountPath: /etc/sbc/tls-client-ca
          readOnly: true
        {{- end }}
        {{- if $coreCa }}
        - name: core-ca
          mountPath: /etc/sbc/core-ca
          readOnly: true
        {{- end }}
        {{- if $coreClient }}
        - name: core-client
          mountPath: /etc/sbc/core-client
          readOnly: true
        {{- end }}
        {{- if .Values.relay.tokenKeys.existingSecret }}
        # The relay's token keys, shared by every pod (relay.token_key_file; read at start).
        - name: relay-keys
          mountPath: /etc/sbc/relay-keys
          readOnly: true
        {{- end }}
        {{- if .Values.auth.credentials.existingSecret }}
        # The Digest credentials (policy.auth.credentials_file), updated in place by Kubernetes.
        - name: auth
          mountPath: /etc/sbc/auth
          readOnly: true
        {{- end }}
        {{- if and (include "sbc.clusterAddress" .) .Values.cluster.redis.passwordSecret.name }}
        # The Redis password (cluster.redis.password_file; read at start).
        - name: redis-password
          mountPath: /etc/sbc/redis
          readOnly: true
        {{- end }}
        {{- if .Values.config.capture }}
        - name: capture
          mountPath: /var/lib/sbc/capture
        {{- end }}
        - name: tmp
          mountPath: /tmp
        # The admin socket of `kubectl exec ... -- sbc ctl` (admin.socket: /run/sbc/admin.sock).
        - name: run
          mountPath: /run/sbc
  volumes:
    - name: config
      configMap:
        name: {{ include "sbc.fullname" . }}
    {{- if $tlsSecret }}
    - name: tls
      secret:
        secretName: {{ $tlsSecret }}
        defaultMode: 0440
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- end }}
    {{- if .Values.tls.clientCA.secretName }}
    - name: client-ca
      secret:
        secretName: {{ .Values.tls.clientCA.secretName }}
        defaultMode: 0440
        items:
          - key: {{ .Values.tls.clientCA.key }}
            path: {{ .Values.tls.clientCA.key }}
    {{- end }}
    {{- if $coreCa }}
    {{- $ca := (include "sbc.coreValues" . | fromYaml).tls.ca }}
    - name: core-ca
      {{- if eq $coreCa "secret" }}
      secret:
        secretName: {{ $ca.secretName }}
        defaultMode: 0440
      {{- else }}
      configMap:
        name: {{ $ca.configMapName }}
      {{- end }}
        items:
          - key: {{ $ca.key }}
            path: {{ $ca.key }}
    {{- end }}
    {{- if $coreClient }}
    - name: core-client
      secret:
        secretName: {{ $coreClient }}
        defaultMode: 0440
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- end }}
    {{- if .Values.relay.tokenKeys.existingSecret }}
    - name: relay-keys
      secret:
        secretName: {{ .Values.relay.tokenKeys.existingSecret }}
        defaultMode: 0440
        items:
          - key: {{ .Values.relay.tokenKeys.key }}
            path: {{ .Values.relay.tokenKeys.key }}
    {{- end }}
    {{- with .Values.auth.credentials.existingSecret }}
    - name: auth
      secret:
        secretName: {{ . }}
        defaultMode: 0440
        items:
          - key: {{ $.Values.auth.credentials.key }}
            path: {{ $.Values.auth.credentials.key }}
    {{- end }}
    {{- if and (include "sbc.clusterAddress" .) .Values.cluster.redis.passwordSecret.name }}
    {{- $secret := .Values.cluster.redis.passwordSecret }}
    - name: redis-password
      secret:
        secretName: {{ $secret.name }}
        defaultMode: 0440
        items:
          - key: {{ $secret.key }}
            path: {{ $secret.key }}
    {{- end }}
    {{- if .Values.config.capture }}
    - name: capture
      {{- if .Values.captureVolume.existingClaim }}
      persistentVolumeClaim:
        claimName: {{ .Values.captureVolume.existingClaim }}
      {{- else }}
      emptyDir:
        sizeLimit: {{ .Values.captureVolume.sizeLimit }}
      {{- end }}
    {{- end }}
    - name: tmp
      emptyDir:
        medium: Memory
        sizeLimit: 16Mi
    - name: run
      emptyDir:
        medium: Memory
        sizeLimit: 1Mi
  {{- if .Values.affinity }}
  affinity:
    {{- toYaml .Values.affinity | nindent 4 }}
  {{- else if and (eq .Values.kind "Deployment") (ne .Values.podAntiAffinity "none") }}
  affinity:
    podAntiAffinity:
      {{- if eq .Values.podAntiAffinity "hard" }}
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "sbc.selectorLabels" . | nindent 14 }}
      {{- else }}
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "sbc.selectorLabels" . | nindent 16 }}
      {{- end }}
  {{- end }}
  {{- if .Values.topologySpread.enabled }}
  topologySpreadConstraints:
    - maxSkew: {{ .Values.topologySpread.maxSkew }}
      topologyKey: {{ .Values.topologySpread.topologyKey }}
      whenUnsatisfiable: {{ .Values.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "sbc.selectorLabels" . | nindent 10 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
