#!/usr/bin/env bash
# Benchmark of POST /api/validate-api-key next to a bare Kestrel endpoint, on loopback, with wrk.
#   bench/validate-key.sh [DURATION_SECONDS] [CONNECTIONS]
# Builds Release; starts its own Azurite (on free ports), the Kubernetes emulator, the box embedded
# (one process, the key grain local) and the bare baseline; publishes a model; runs wrk against both; then the same
# against cluster mode (2 silos + 1 API host as an Orleans client, so every key check is a remote grain call).
# Stops only what it started. Needs wrk (apt-get install -y wrk), node, dotnet.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
LOW_CONNECTIONS="${LOW_CONNECTIONS:-2}"
WORK="$(mktemp -d /tmp/bench-validate-key.XXXXXX)"
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

# Free loopback ports, so the run never collides with a box or a test run on the same machine.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
AZ_BLOB=$(free_port); AZ_QUEUE=$(free_port); AZ_TABLE=$(free_port); EMU=$(free_port); BASE=$(free_port)
EMB=$(free_port); CLI=$(free_port); SILO_PORTS=($(free_port) $(free_port)); GW_PORTS=($(free_port) $(free_port) $(free_port)); SILO_HTTP=($(free_port) $(free_port))

command -v wrk >/dev/null || { say "wrk is missing: apt-get update && apt-get install -y wrk"; exit 1; }
AZURITE_JS="${AZURITE_JS:-$ROOT/node_modules/azurite/dist/src/azurite.js}"
[[ -f "$AZURITE_JS" ]] || AZURITE_JS=/work/main/node_modules/azurite/dist/src/azurite.js

say "== building (Release)"
for p in src/ApiHost src/Silo src/KubeEmulator bench/Baseline; do
  dotnet build "$p" -c Release -v q -nologo >/dev/null
done
BIN() { echo "$ROOT/$1/bin/Release/net10.0/$2.dll"; }

export JWT_SECRET="bench-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')"
export ADMIN_PASSWORD="bench-admin-password"
STORAGE="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$AZ_BLOB/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$AZ_QUEUE/devstoreaccount1;TableEndpoint=http://127.0.0.1:$AZ_TABLE/devstoreaccount1;"
export ConnectionStrings__Storage="$STORAGE" Logging__LogLevel__Default=Warning

say "== starting Azurite, the Kubernetes emulator and the baseline"
node "$AZURITE_JS" --silent --disableTelemetry --skipApiVersionCheck --location "$WORK/azurite" \
  --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 --blobPort $AZ_BLOB --queuePort $AZ_QUEUE --tablePort $AZ_TABLE \
  >"$WORK/azurite.log" 2>&1 & PIDS+=($!)
dotnet "$(BIN src/KubeEmulator KubeEmulator)" --urls http://127.0.0.1:$EMU --kubeconfig "$WORK/kubeconfig" --ready-delay 00:00:01 \
  >"$WORK/emulator.log" 2>&1 & PIDS+=($!)
dotnet "$(BIN bench/Baseline Inference.Bench.Baseline)" --urls http://127.0.0.1:$BASE >"$WORK/baseline.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:$EMU/readyz
wait_http http://127.0.0.1:$BASE/api/validate-api-key POST
export KUBECONFIG="$WORK/kubeconfig"

API_DLL="$(BIN src/ApiHost Inference.ApiHost)"
TOKEN="$(dotnet "$API_DLL" token tenant-a)"

# publish_model BASE_URL NAME -> prints the full key
publish_model() {
  local base="$1" name="$2"
  curl -sf -X POST "$base/api/models" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$name\",\"framework\":\"sklearn\",\"storageUri\":\"gs://kfserving-examples/models/sklearn/1.0/model\"}" >/dev/null
  for _ in $(seq 1 100); do
    curl -sf "$base/api/models/$name" -H "Authorization: Bearer $TOKEN" | grep -q '"ready":true' && break
    sleep 0.3
  done
  # Limits far above what the run can reach, so every answer is a real validation (200), not a 429.
  curl -sf -X POST "$base/api/models/$name/publish" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"config":{"rateLimiting":{"requestsPerMinute":1000000,"requestsPerHour":2000000000,"tokensPerHour":0,"burstLimit":1000000}}}' \
    | sed -E 's/.*"apiKey":"(pk_live_[0-9A-Za-z]+)".*/\1/'
}

# run_wrk LABEL URL CONNECTIONS THREADS -> "label rps p50_ms p99_ms non2xx"
run_wrk() {
  local label="$1" url="$2" c="$3" t="$4" out
  out="$(BENCH_KEY="$KEY" wrk -t"$t" -c"$c" -d"${DURATION}s" --latency -s "$ROOT/bench/post-key.lua" "$url")"
  echo "$out" >"$WORK/wrk-$label.txt"
  awk -v label="$label" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps=$2 } $1=="50%" { p50=ms($2) } $1=="99%" { p99=ms($2) } /Non-2xx/ { bad=$5 }
    END { printf "%s %.0f %.3f %.3f %d\n", label, rps, p50, p99, bad+0 }' <<<"$out"
}

say "== embedded: one process, key grain local to the API host"
dotnet "$API_DLL" --urls http://127.0.0.1:$EMB --Cluster:TablePrefix=bench$RANDOM --Cluster:SiloPort=${SILO_PORTS[0]} --Cluster:GatewayPort=${GW_PORTS[2]} \
  >"$WORK/embedded.log" 2>&1 & EMBEDDED=$!; PIDS+=($EMBEDDED)
wait_http http://127.0.0.1:$EMB/ready
KEY="$(publish_model http://127.0.0.1:$EMB bench-embedded)"
[[ "$KEY" == pk_live_* ]] || { say "publish failed: $KEY"; exit 1; }
curl -sf -X POST http://127.0.0.1:$EMB/api/validate-api-key -H "X-API-Key: $KEY" >/dev/null
RESULTS=()
# Warm-up (JIT, connection pools), not reported.
DURATION=3 run_wrk warmup http://127.0.0.1:$EMB/api/validate-api-key "$CONNECTIONS" 2 >/dev/null
DURATION=3 run_wrk warmup http://127.0.0.1:$BASE/api/validate-api-key "$CONNECTIONS" 2 >/dev/null
RESULTS+=("$(run_wrk baseline-peak http://127.0.0.1:$BASE/api/validate-api-key "$CONNECTIONS" 2)")
RESULTS+=("$(run_wrk embedded-peak http://127.0.0.1:$EMB/api/validate-api-key "$CONNECTIONS" 2)")
RESULTS+=("$(run_wrk baseline-low http://127.0.0.1:$BASE/api/validate-api-key "$LOW_CONNECTIONS" 1)")
RESULTS+=("$(run_wrk embedded-low http://127.0.0.1:$EMB/api/validate-api-key "$LOW_CONNECTIONS" 1)")
kill "$EMBEDDED"; wait "$EMBEDDED" 2>/dev/null || true

say "== cluster: 2 silos + 1 API host (Orleans client): every key check is a remote grain call"
export Cluster__Clustering=AzureTable Cluster__ClusterId="bench$RANDOM" Cluster__TablePrefix="benchc$RANDOM"
for i in 0 1; do
  Cluster__SiloPort=${SILO_PORTS[$i]} Cluster__GatewayPort=${GW_PORTS[$i]} \
    dotnet "$(BIN src/Silo Inference.Silo)" --urls "http://127.0.0.1:${SILO_HTTP[$i]}" >"$WORK/silo$i.log" 2>&1 & PIDS+=($!)
done
wait_http http://127.0.0.1:${SILO_HTTP[0]}/health
wait_http http://127.0.0.1:${SILO_HTTP[1]}/health
Mode=Client dotnet "$API_DLL" --urls http://127.0.0.1:$CLI >"$WORK/client.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:$CLI/ready
KEY="$(publish_model http://127.0.0.1:$CLI bench-cluster)"
[[ "$KEY" == pk_live_* ]] || { say "publish failed: $KEY"; exit 1; }
DURATION=3 run_wrk warmup http://127.0.0.1:$CLI/api/validate-api-key "$CONNECTIONS" 2 >/dev/null
RESULTS+=("$(run_wrk cluster-peak http://127.0.0.1:$CLI/api/validate-api-key "$CONNECTIONS" 2)")
RESULTS+=("$(run_wrk cluster-low http://127.0.0.1:$CLI/api/validate-api-key "$LOW_CONNECTIONS" 1)")

printf '\n%-16s %10s %10s %10s %8s\n' run req/s p50_ms p99_ms non2xx
for r in "${RESULTS[@]}"; do printf '%-16s %10s %10s %10s %8s\n' $r; done
base=$(printf '%s\n' "${RESULTS[@]}" | awk '$1=="baseline-peak"{print $2}')
for label in embedded-peak cluster-peak embedded-low cluster-low; do
  rps=$(printf '%s\n' "${RESULTS[@]}" | awk -v l=$label '$1==l{print $2}')
  awk -v l=$label -v r="$rps" -v b="$base" 'BEGIN { printf "%s / baseline-peak throughput: %.2f\n", l, r/b }'
done
say "(wrk outputs and service logs in $WORK)"
