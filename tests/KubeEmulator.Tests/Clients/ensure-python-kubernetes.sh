#!/usr/bin/env bash
# Makes the official Kubernetes Python client importable for the emulator's fidelity tests
# (PythonClientFidelityTests): Debian's python3-kubernetes, pinned to the version of the Debian release the
# project's machines run (bookworm: 22.6.0-2). Installs it with apt-get when it is missing (root, as on the
# project's machines and CI); prints the client's version.
# Debian's interpreter (/usr/bin/python3) is the one its packages are installed for, whatever python3 is on PATH.
set -euo pipefail
PACKAGE="python3-kubernetes"
VERSION="22.6.0-2"
if ! /usr/bin/python3 -c 'import kubernetes' 2>/dev/null; then
  [[ "$(id -u)" == 0 ]] || { echo "ensure-python-kubernetes.sh: $PACKAGE is missing; install it as root: apt-get install $PACKAGE=$VERSION" >&2; exit 1; }
  echo "ensure-python-kubernetes.sh: installing $PACKAGE=$VERSION" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$PACKAGE=$VERSION" >&2 \
    || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "$PACKAGE=$VERSION" >&2; }
fi
/usr/bin/python3 -c 'import kubernetes; print(kubernetes.__version__)'
