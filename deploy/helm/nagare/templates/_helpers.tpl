{{/* The chart's name. */}}
{{- define "nagare.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: "<release>-nagare", or the release name when it has "nagare" in it. */}}
{{- define "nagare.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "nagare.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nagare
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Selector labels of a component: include "nagare.selectorLabels" (list . "manager"). */}}
{{- define "nagare.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "nagare.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "nagare.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "nagare.secretName" -}}
{{- default (printf "%s-secrets" (include "nagare.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "nagare.managerServiceAccount" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-manager" (include "nagare.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "nagare.nodeServiceAccount" -}}
{{- if .Values.nodes.serviceAccount.create }}
{{- default (printf "%s-node" (include "nagare.fullname" .)) .Values.nodes.serviceAccount.name }}
{{- else }}
{{- .Values.nodes.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* manager.sharedStore: the value when set, else on with MySQL. */}}
{{- define "nagare.sharedStore" -}}
{{- if kindIs "invalid" .Values.manager.sharedStore }}
{{- eq .Values.manager.store.engine "mysql" }}
{{- else }}
{{- .Values.manager.sharedStore }}
{{- end }}
{{- end }}

{{/* Checks of values that would make a release that cannot work. */}}
{{- define "nagare.validate" -}}
{{- $engine := .Values.manager.store.engine }}
{{- if not (has $engine (list "sqlite" "mysql")) }}
{{- fail (printf "manager.store.engine must be sqlite or mysql, not %q" $engine) }}
{{- end }}
{{- if and (gt (int .Values.manager.replicas) 1) (ne $engine "mysql") }}
{{- fail "manager.replicas above 1 needs manager.store.engine mysql: the replicas share the store" }}
{{- end }}
{{- if and (gt (int .Values.manager.replicas) 1) (ne (include "nagare.sharedStore" .) "true") }}
{{- fail "manager.replicas above 1 needs manager.sharedStore (leave it null)" }}
{{- end }}
{{- if and (eq $engine "mysql") (not .Values.secrets.existingSecret) (not .Values.secrets.storeDSN) }}
{{- fail "manager.store.engine mysql needs secrets.storeDSN (or secrets.existingSecret with a storeDSN key)" }}
{{- end }}
{{- if and .Values.vod.enabled (ne $engine "mysql") }}
{{- fail "vod.enabled needs manager.store.engine mysql: the VOD library is in the manager's database" }}
{{- end }}
{{- if and .Values.vod.enabled (gt (int .Values.vod.replicas) 1) (ne .Values.storage.backend "s3") }}
{{- fail "vod.replicas above 1 needs storage.backend s3: the replicas share the videos" }}
{{- end }}
{{- if not (has .Values.nodes.antiAffinity (list "" "none" "preferred" "required")) }}
{{- fail (printf "nodes.antiAffinity must be required, preferred, none or empty, not %q" .Values.nodes.antiAffinity) }}
{{- end }}
{{- end }}

{{/* The environment every nagare container of the release gets from the Secret. */}}
{{- define "nagare.secretEnv" -}}
- name: NAGARE_MANAGER_ADMIN_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "nagare.secretName" . }}, key: adminToken}}
- name: NAGARE_CLUSTER_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "nagare.secretName" . }}, key: clusterSecret}}
{{- if eq .Values.manager.store.engine "mysql" }}
- name: NAGARE_MANAGER_STORE_DSN
  valueFrom: {secretKeyRef: {name: {{ include "nagare.secretName" . }}, key: storeDSN}}
{{- end }}
- name: NAGARE_STORAGE_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ include "nagare.secretName" . }}, key: storageAccessKeyID, optional: true}}
- name: NAGARE_STORAGE_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ include "nagare.secretName" . }}, key: storageSecretAccessKey, optional: true}}
{{- end }}

{{/* A Secret value, base64: the given one, else the one in the cluster (a random value is made once and
read back at every upgrade), else a new random one. include "nagare.secretValue" (list given old key) */}}
{{- define "nagare.secretValue" -}}
{{- $given := index . 0 }}{{- $old := index . 1 }}{{- $key := index . 2 }}
{{- if $given }}{{ $given | b64enc }}{{ else if hasKey $old $key }}{{ index $old $key }}{{ else }}{{ randAlphaNum 32 | b64enc }}{{ end }}
{{- end }}
