# Shared by the key-validation benchmarks (validate-key.sh, compare-half.sh); sourced, not run.
# Expects ROOT (a checkout whose services are built in Release) and WORK (a scratch folder) to be set.

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
say() { printf '%s\n' "$*" >&2; }
wait_http() { # URL [METHOD]
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null -X "${2:-GET}" "$1"; then return 0; fi
    sleep 0.3
  done
  say "timed out waiting for $1"; exit 1
}
# Free loopback ports, so a run never collides with a box or a test run on the same machine.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
BIN() { echo "${3:-$ROOT}/$1/bin/Release/net10.0/$2.dll"; } # PROJECT ASSEMBLY [CHECKOUT]

command -v wrk >/dev/null || { say "wrk is missing: apt-get update && apt-get install -y wrk"; exit 1; }

# start_infrastructure [OTHER_CHECKOUT]: Azurite (from this checkout's node_modules, else the other's), the Kubernetes
# emulator and the bare baseline on free ports; exports what the box's processes read (storage, KUBECONFIG, secrets)
# and sets BASE (the baseline's port), BASE_PID and TOKEN (a tenant-a token).
start_infrastructure() {
  local azurite="${AZURITE_JS:-$ROOT/node_modules/azurite/dist/src/azurite.js}"
  [[ -f "$azurite" || -z "${1:-}" ]] || azurite="$1/node_modules/azurite/dist/src/azurite.js"
  [[ -f "$azurite" ]] || { say "Azurite not installed: run npm ci here first (./box up and ./box test do), or set AZURITE_JS"; exit 1; }
  local blob queue table emulator
  blob=$(free_port); queue=$(free_port); table=$(free_port); emulator=$(free_port); BASE=$(free_port)
  export JWT_SECRET="bench-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')"
  export KeyValidation__SigningKeys__k1="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
  export ADMIN_PASSWORD="bench-admin-password"
  export ConnectionStrings__Storage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$blob/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$queue/devstoreaccount1;TableEndpoint=http://127.0.0.1:$table/devstoreaccount1;"
  export Logging__LogLevel__Default=Warning
  say "== starting Azurite, the Kubernetes emulator and the baseline"
  node "$azurite" --silent --disableTelemetry --skipApiVersionCheck --location "$WORK/azurite" \
    --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 --blobPort $blob --queuePort $queue --tablePort $table \
    >"$WORK/azurite.log" 2>&1 & PIDS+=($!)
  dotnet "$(BIN src/KubeEmulator KubeEmulator)" --urls http://127.0.0.1:$emulator --kubeconfig "$WORK/kubeconfig" --ready-delay 00:00:01 \
    >"$WORK/emulator.log" 2>&1 & PIDS+=($!)
  dotnet "$(BIN bench/Baseline Inference.Bench.Baseline)" --urls http://127.0.0.1:$BASE >"$WORK/baseline.log" 2>&1 & PIDS+=($!)
  BASE_PID=$!
  wait_http http://127.0.0.1:$table/
  wait_http http://127.0.0.1:$emulator/readyz
  wait_http http://127.0.0.1:$BASE/api/validate-api-key POST
  export KUBECONFIG="$WORK/kubeconfig"
  TOKEN="$(dotnet "$(BIN src/ApiHost Inference.ApiHost)" token tenant-a)"
}

# publish_model BASE_URL NAME [PUBLISH_BODY] -> prints the full key
publish_model() {
  local base="$1" name="$2" body="${3:-}"
  curl -sf -X POST "$base/api/models" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$name\",\"framework\":\"sklearn\",\"storageUri\":\"gs://kfserving-examples/models/sklearn/1.0/model\"}" >/dev/null
  for _ in $(seq 1 400); do
    curl -sf "$base/api/models/$name" -H "Authorization: Bearer $TOKEN" | grep -q '"ready":true' && break
    sleep 0.3
  done
  # By default limits far above what the run can reach, so every answer is a real validation (200), not a 429.
  local unlimited='{"config":{"rateLimiting":{"requestsPerMinute":1000000,"requestsPerHour":2000000000,"tokensPerHour":0,"burstLimit":1000000}}}'
  curl -sf -X POST "$base/api/models/$name/publish" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "${body:-$unlimited}" \
    | sed -E 's/.*"apiKey":"(pk_live_[0-9A-Za-z]+)".*/\1/'
}

# wrk_summary LABEL < wrk --latency output -> "label rps p50_ms p99_ms non2xx"
wrk_summary() {
  awk -v label="$1" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps=$2 } $1=="50%" { p50=ms($2) } $1=="99%" { p99=ms($2) } /Non-2xx/ { bad=$5 }
    END { printf "%s %.0f %.3f %.3f %d\n", label, rps, p50, p99, bad+0 }'
}

# cpu_ticks PID -> user + system clock ticks (1/100 s) the process has used so far
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
