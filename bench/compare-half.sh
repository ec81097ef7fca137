#!/usr/bin/env bash
# A/B comparison of key validation latency at a fixed offered load, interleaved so that the machine's drift (other
# work on the same cores) hits every target alike:
#   bench/compare-half.sh OTHER_CHECKOUT [RATE=10000] [ROUNDS=3] [DURATION_SECONDS=10]
# Starts the bare baseline, this checkout's box (A) and OTHER_CHECKOUT's box (B) embedded, each with a published
# key, then runs ROUNDS x (baseline, A, B) of wrk with connections paced as in validate-key.sh's "half" runs
# (PACE_DELAY_MS, default 2) at about RATE req/s, and prints every run plus the median p99 per target.
# BOX_ENV_A / BOX_ENV_B: extra environment for A or B only (compare runtime settings with the same build by passing
# this checkout as OTHER_CHECKOUT). B_BASELINE=1: B is a second bare endpoint run with BOX_ENV_B instead of a box
# (BOX_ENV_B=BASELINE_SILO=box gives it an idle silo configured as the box's). Loopback only; stops only what it
# started. Needs wrk, node, dotnet.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OTHER="$(cd "${1:?usage: bench/compare-half.sh OTHER_CHECKOUT [RATE] [ROUNDS] [DURATION]}" && pwd)"
RATE="${2:-10000}"
ROUNDS="${3:-3}"
DURATION="${4:-10}"
PAUSE="${PACE_DELAY_MS:-2}"
WORK="$(mktemp -d /tmp/bench-compare-half.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
say() { printf '%s\n' "$*" >&2; }
wait_http() {
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null -X "${2:-GET}" "$1"; then return 0; fi
    sleep 0.3
  done
  say "timed out waiting for $1"; exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
command -v wrk >/dev/null || { say "wrk is missing: apt-get update && apt-get install -y wrk"; exit 1; }
AZURITE_JS="${AZURITE_JS:-$ROOT/node_modules/azurite/dist/src/azurite.js}"
[[ -f "$AZURITE_JS" ]] || AZURITE_JS="$OTHER/node_modules/azurite/dist/src/azurite.js"
[[ -f "$AZURITE_JS" ]] || { say "Azurite not installed: run npm ci here first (./box up and ./box test do), or set AZURITE_JS"; exit 1; }

say "== building (Release) $ROOT and $OTHER"
for tree in "$ROOT" "$OTHER"; do
  for p in src/ApiHost src/KubeEmulator bench/Baseline; do dotnet build "$tree/$p" -c Release -v q -nologo >/dev/null; done
done
BIN() { echo "$1/$2/bin/Release/net10.0/$3.dll"; }

AZ_BLOB=$(free_port); AZ_QUEUE=$(free_port); AZ_TABLE=$(free_port); EMU=$(free_port); BASE=$(free_port)
export JWT_SECRET="bench-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')"
export ADMIN_PASSWORD="bench-admin-password"
export ConnectionStrings__Storage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$AZ_BLOB/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$AZ_QUEUE/devstoreaccount1;TableEndpoint=http://127.0.0.1:$AZ_TABLE/devstoreaccount1;"
export Logging__LogLevel__Default=Warning
node "$AZURITE_JS" --silent --disableTelemetry --skipApiVersionCheck --location "$WORK/azurite" \
  --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 --blobPort $AZ_BLOB --queuePort $AZ_QUEUE --tablePort $AZ_TABLE \
  >"$WORK/azurite.log" 2>&1 & PIDS+=($!)
dotnet "$(BIN "$ROOT" src/KubeEmulator KubeEmulator)" --urls http://127.0.0.1:$EMU --kubeconfig "$WORK/kubeconfig" --ready-delay 00:00:01 \
  >"$WORK/emulator.log" 2>&1 & PIDS+=($!)
dotnet "$(BIN "$ROOT" bench/Baseline Inference.Bench.Baseline)" --urls http://127.0.0.1:$BASE >"$WORK/baseline.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:$AZ_TABLE/
wait_http http://127.0.0.1:$EMU/readyz
wait_http http://127.0.0.1:$BASE/api/validate-api-key POST
export KUBECONFIG="$WORK/kubeconfig"
TOKEN="$(dotnet "$(BIN "$ROOT" src/ApiHost Inference.ApiHost)" token tenant-a)"

# start_box LABEL TREE ENV: sets PORT; publishes model bench-LABEL and leaves its key in $WORK/LABEL.key
# (not run in a subshell, so that PIDS keeps the box for cleanup)
start_box() {
  local label="$1" tree="$2" env="$3" port
  port=$(free_port); PORT=$port
  (exec env $env dotnet "$(BIN "$tree" src/ApiHost Inference.ApiHost)" --urls http://127.0.0.1:$port \
    --Cluster:TablePrefix="cmp$label$RANDOM" --Cluster:SiloPort="$(free_port)" --Cluster:GatewayPort="$(free_port)" \
    >"$WORK/$label.log" 2>&1) & PIDS+=($!)
  wait_http "http://127.0.0.1:$port/ready"
  curl -sf -X POST "http://127.0.0.1:$port/api/models" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench-$label\",\"framework\":\"sklearn\",\"storageUri\":\"gs://kfserving-examples/models/sklearn/1.0/model\"}" >/dev/null
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/api/models/bench-$label" -H "Authorization: Bearer $TOKEN" | grep -q '"ready":true' && break
    sleep 0.3
  done
  curl -sf -X POST "http://127.0.0.1:$port/api/models/bench-$label/publish" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"config":{"rateLimiting":{"requestsPerMinute":1000000,"requestsPerHour":2000000000,"tokensPerHour":0,"burstLimit":1000000}}}' \
    | sed -E 's/.*"apiKey":"(pk_live_[0-9A-Za-z]+)".*/\1/' >"$WORK/$label.key"
  grep -q '^pk_live_' "$WORK/$label.key" || { say "publish on $label failed"; exit 1; }
}
start_box a "$ROOT" "${BOX_ENV_A:-}"; A_PORT=$PORT
if [[ "${B_BASELINE:-0}" == 1 ]]; then
  # B is the bare endpoint again, with BOX_ENV_B (e.g. BASELINE_SILO=box: an idle co-hosted silo).
  B_PORT=$(free_port)
  (exec env ${BOX_ENV_B:-} dotnet "$(BIN "$ROOT" bench/Baseline Inference.Bench.Baseline)" --urls http://127.0.0.1:$B_PORT \
    --Cluster:TablePrefix="cmpb$RANDOM" --Cluster:SiloPort="$(free_port)" --Cluster:GatewayPort="$(free_port)" \
    >"$WORK/b.log" 2>&1) & PIDS+=($!)
  wait_http "http://127.0.0.1:$B_PORT/api/validate-api-key" POST
  echo "none" >"$WORK/b.key"
else
  start_box b "$OTHER" "${BOX_ENV_B:-}"; B_PORT=$PORT
fi
echo "none" >"$WORK/base.key"

# run LABEL PORT CONNECTIONS DURATION -> "label rps p50_ms p99_ms non2xx"
run() {
  local label="$1" port="$2" c="$3" d="$4" out
  out="$(BENCH_KEY="$(cat "$WORK/$label.key")" BENCH_DELAY_MS="$PAUSE" wrk -t2 -c"$c" -d"${d}s" --latency \
    -s "$ROOT/bench/post-key.lua" "http://127.0.0.1:$port/api/validate-api-key")"
  awk -v label="$label" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps=$2 } $1=="50%" { p50=ms($2) } $1=="99%" { p99=ms($2) } /Non-2xx/ { bad=$5 }
    END { printf "%-6s %8.0f %8.3f %8.3f %6d\n", label, rps, p50, p99, bad+0 }' <<<"$out"
}
C=$(( (RATE * PAUSE + 999) / 1000 )); (( C >= 2 )) || C=2
say "== warm-up (10 s each), then $ROUNDS rounds of base, a, b at ~$RATE req/s ($C connections pausing 0-$((2 * PAUSE)) ms)"
for t in "base $BASE" "a $A_PORT" "b $B_PORT"; do set -- $t; run "$1" "$2" 64 10 >/dev/null; done
RESULTS="$WORK/results.txt"
for r in $(seq 1 "$ROUNDS"); do
  for t in "base $BASE" "a $A_PORT" "b $B_PORT"; do set -- $t; run "$1" "$2" "$C" "$DURATION" | tee -a "$RESULTS"; done
done
echo "A = $ROOT ${BOX_ENV_A:-}; B = $OTHER ${BOX_ENV_B:-}"
for l in base a b; do
  awk -v l="$l" '$1==l { print $4 }' "$RESULTS" | sort -n | awk -v l="$l" '{ v[NR]=$1 } END { printf "%-6s median p99 %.3f ms over %d runs\n", l, v[int((NR+1)/2)], NR }'
done
