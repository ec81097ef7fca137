#!/usr/bin/env bash
# helm/helm.sh ARGS...: the pinned Helm (see layer-tool.sh). Used by the chart tests; e.g.
#   helm/helm.sh lint helm/inference-management --set tls.generate=true ...
exec "$(dirname "${BASH_SOURCE[0]}")/layer-tool.sh" helm "$@"
