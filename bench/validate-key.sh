#!/usr/bin/env bash
# Benchmark of POST /api/validate-api-key next to a bare Kestrel endpoint, on loopback, with wrk: "peak" (closed
# loop, CONNECTIONS), "half" (about half of that run's peak, paced: see run_paced) and "low" (LOW_CONNECTIONS).
#   bench/validate-key.sh [DURATION_SECONDS] [CONNECTIONS]
# Builds Release; starts its own Azurite (on free ports), the Kubernetes emulator, the box embedded
# (one process, the key grain local) and the bare baseline; publishes a model; runs wrk against both; then the same
# against cluster mode (2 silos + 1 API host as an Orleans client, deciding from leases the key's grain on a silo grants).
# Stops only what it started. Needs wrk (apt-get install -y wrk), node, dotnet.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
LOW_CONNECTIONS="${LOW_CONNECTIONS:-2}"
# Seconds of load before each measured target, not reported: long enough for tiered JIT to finish (with 3 s, a
# profile still showed a fifth of the API host's CPU compiling during the peak run).
WARMUP="${WARMUP:-10}"
# BOX_ENV: extra environment for the box's processes only (embedded host, silos, API client), never the baseline,
#   e.g. BOX_ENV="DOTNET_gcServer=0 DOTNET_TieredPGO=1". SKIP_EMBEDDED=1 runs baseline + cluster only.
BOX_ENV="${BOX_ENV:-}"
SKIP_EMBEDDED="${SKIP_EMBEDDED:-0}"
# exec: run in the background, the function's subshell becomes the service itself, so its PID in $! is what cleanup kills.
box() { exec env $BOX_ENV "$@"; }
WORK="$(mktemp -d /tmp/bench-validate-key.XXXXXX)"
source "$ROOT/bench/common.sh"
EMB=$(free_port); EMB_SILO=$(free_port); EMB_GW=$(free_port)

say "== building (Release)"
for p in src/ApiHost src/Silo src/KubeEmulator bench/Baseline; do
  dotnet build "$p" -c Release -v q -nologo >/dev/null
done
start_infrastructure
API_DLL="$(BIN src/ApiHost Inference.ApiHost)"
# Cluster runs use mutual TLS between silos and the API client, as ./box cluster and the chart do.
dotnet "$(BIN src/Silo Inference.Silo)" certs "$WORK/certs" >/dev/null
export Cluster__Tls__CertificatePath="$WORK/certs/tls.crt" Cluster__Tls__KeyPath="$WORK/certs/tls.key" Cluster__Tls__CaPath="$WORK/certs/ca.crt"

# run_wrk LABEL URL CONNECTIONS THREADS -> "label rps p50_ms p99_ms non2xx"
run_wrk() {
  local label="$1" url="$2" c="$3" t="$4" out
  out="$(BENCH_KEY="$KEY" wrk -t"$t" -c"$c" -d"${DURATION}s" --latency -s "$ROOT/bench/post-key.lua" "$url")"
  echo "$out" >"$WORK/wrk-$label.txt"
  wrk_summary "$label" <<<"$out"
}

# run_paced LABEL URL RATE: about RATE req/s offered by connections that each pause PACE_DELAY_MS (10) after every
# answer: the "half of peak" load for the latency target, standing in for wrk2's fixed-rate mode.
run_paced() {
  local label="$1" url="$2" rate="$3" pause="${PACE_DELAY_MS:-10}" c
  c=$(( (rate * pause + 999) / 1000 )); (( c >= 2 )) || c=2
  BENCH_DELAY_MS="$pause" run_wrk "$label" "$url" "$c" 2
}
# half_of LABEL: half the req/s of an earlier run.
half_of() { printf '%s\n' "${RESULTS[@]}" | awk -v l="$1" '$1==l { printf "%d", $2 / 2 }'; }

RESULTS=()
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
if [[ "$SKIP_EMBEDDED" != 1 ]]; then
say "== embedded: one process, key grain local to the API host"
box dotnet "$API_DLL" --urls http://127.0.0.1:$EMB --Cluster:TablePrefix=bench$RANDOM --Cluster:SiloPort=$EMB_SILO --Cluster:GatewayPort=$EMB_GW \
  >"$WORK/embedded.log" 2>&1 & EMBEDDED=$!; PIDS+=($EMBEDDED)
wait_http http://127.0.0.1:$EMB/ready
KEY="$(publish_model http://127.0.0.1:$EMB bench-embedded)"
[[ "$KEY" == pk_live_* ]] || { say "publish failed: $KEY"; exit 1; }
# A second key for the half and low runs: warm-up and peak alone can pass a million validations in a minute, the
# most a key's per-minute limit can be (past it every answer would be a 429, not a validation).
EMB_KEY2="$(publish_model http://127.0.0.1:$EMB bench-embedded-2)"
[[ "$EMB_KEY2" == pk_live_* ]] || { say "publish failed: $EMB_KEY2"; exit 1; }
curl -sf -X POST http://127.0.0.1:$EMB/api/validate-api-key -H "X-API-Key: $KEY" >/dev/null
# Warm-up (JIT, connection pools), not reported.
DURATION=$WARMUP run_wrk warmup http://127.0.0.1:$EMB/api/validate-api-key "$CONNECTIONS" 2 >/dev/null
fi
KEY="${KEY:-none}"
DURATION=$WARMUP run_wrk warmup http://127.0.0.1:$BASE/api/validate-api-key "$CONNECTIONS" 2 >/dev/null
RESULTS+=("$(run_wrk baseline-peak http://127.0.0.1:$BASE/api/validate-api-key "$CONNECTIONS" 2)")
RESULTS+=("$(run_paced baseline-half http://127.0.0.1:$BASE/api/validate-api-key "$(half_of baseline-peak)")")
if [[ "$SKIP_EMBEDDED" != 1 ]]; then
  RESULTS+=("$(run_wrk embedded-peak http://127.0.0.1:$EMB/api/validate-api-key "$CONNECTIONS" 2)")
  KEY="$EMB_KEY2"
  RESULTS+=("$(run_paced embedded-half http://127.0.0.1:$EMB/api/validate-api-key "$(half_of embedded-peak)")")
fi
RESULTS+=("$(run_wrk baseline-low http://127.0.0.1:$BASE/api/validate-api-key "$LOW_CONNECTIONS" 1)")
if [[ "$SKIP_EMBEDDED" != 1 ]]; then
RESULTS+=("$(run_wrk embedded-low http://127.0.0.1:$EMB/api/validate-api-key "$LOW_CONNECTIONS" 1)")
kill "$EMBEDDED"; wait "$EMBEDDED" 2>/dev/null || true
fi

# run_cluster PREFIX ENV...: a fresh cluster (2 silos + 1 API client, new cluster id and tables), peak and low runs
# labelled PREFIX-peak / PREFIX-low, then stopped.
TICKS=$(getconf CLK_TCK); CPU_LINES=()
cpu_ticks() { local p; for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0; done; }
run_cluster() {
  local prefix="$1" envs="$2" started=() i silo_ports=($(free_port) $(free_port)) gw_ports=($(free_port) $(free_port))
  local silo_http=($(free_port) $(free_port)) cli=$(free_port)
  say "== $prefix: 2 silos + 1 API host (Orleans client) deciding from leases; env: ${envs:-none}"
  export Cluster__Clustering=AzureTable Cluster__ClusterId="bench$RANDOM" Cluster__TablePrefix="benchc$RANDOM"
  for i in 0 1; do
    Cluster__SiloPort=${silo_ports[$i]} Cluster__GatewayPort=${gw_ports[$i]} \
      env $envs dotnet "$(BIN src/Silo Inference.Silo)" --urls "http://127.0.0.1:${silo_http[$i]}" >"$WORK/$prefix-silo$i.log" 2>&1 & started+=($!); PIDS+=($!)
  done
  wait_http http://127.0.0.1:${silo_http[0]}/health
  wait_http http://127.0.0.1:${silo_http[1]}/health
  Mode=Client env $envs dotnet "$API_DLL" --urls http://127.0.0.1:$cli >"$WORK/$prefix-client.log" 2>&1 & started+=($!); PIDS+=($!)
  wait_http http://127.0.0.1:$cli/ready
  KEY="$(publish_model http://127.0.0.1:$cli bench-$prefix)"
  [[ "$KEY" == pk_live_* ]] || { say "publish failed: $KEY"; exit 1; }
  local key2; key2="$(publish_model http://127.0.0.1:$cli bench-$prefix-2)" # for half and low (see EMB_KEY2)
  [[ "$key2" == pk_live_* ]] || { say "publish failed: $key2"; exit 1; }
  DURATION=$WARMUP run_wrk warmup http://127.0.0.1:$cli/api/validate-api-key "$CONNECTIONS" 2 >/dev/null
  local before=($(cpu_ticks "${started[@]}"))
  RESULTS+=("$(run_wrk $prefix-peak http://127.0.0.1:$cli/api/validate-api-key "$CONNECTIONS" 2)")
  local after=($(cpu_ticks "${started[@]}"))
  # CPU seconds per process during the peak run: a silo that only forwards (the key grain lives on the other one)
  # shows up as two busy silos instead of one.
  CPU_LINES+=("$(awk -v t=$TICKS -v l=$prefix-peak -v a="${after[*]}" -v b="${before[*]}" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%s CPU seconds: silo0 %.1f, silo1 %.1f, API client %.1f\n", l, (x[1]-y[1])/t, (x[2]-y[2])/t, (x[3]-y[3])/t }')")
  KEY="$key2"
  RESULTS+=("$(run_paced $prefix-half http://127.0.0.1:$cli/api/validate-api-key "$(half_of $prefix-peak)")")
  RESULTS+=("$(run_wrk $prefix-low http://127.0.0.1:$cli/api/validate-api-key "$LOW_CONNECTIONS" 1)")
  for i in "${started[@]}"; do kill "$i" 2>/dev/null || true; done
  for i in "${started[@]}"; do wait "$i" 2>/dev/null || true; done
}
[[ "${SKIP_CLUSTER:-0}" == 1 ]] || run_cluster cluster "$BOX_ENV"

# run_member: the API host co-hosting a silo joined to the cluster (Mode=Embedded with Azure Table clustering) and
# one silo process; the key's grain is made to live on the silo process (a model is published again until a short
# probe shows that process doing the work), so every check is one silo-to-silo call with no gateway forwarding.
run_member() {
  local prefix=member started=() silo_port=$(free_port) gw_port=$(free_port) silo_http=$(free_port)
  local api_silo=$(free_port) api_gw=$(free_port) cli=$(free_port) attempt before after
  say "== member: API host with its own silo + 1 silo process; the key's grain on the silo process; env: ${BOX_ENV:-none}"
  export Cluster__Clustering=AzureTable Cluster__ClusterId="bench$RANDOM" Cluster__TablePrefix="benchm$RANDOM"
  Cluster__SiloPort=$silo_port Cluster__GatewayPort=$gw_port \
    env $BOX_ENV dotnet "$(BIN src/Silo Inference.Silo)" --urls "http://127.0.0.1:$silo_http" >"$WORK/$prefix-silo.log" 2>&1 & started+=($!); PIDS+=($!)
  wait_http http://127.0.0.1:$silo_http/health
  Cluster__SiloPort=$api_silo Cluster__GatewayPort=$api_gw \
    env $BOX_ENV dotnet "$API_DLL" --urls http://127.0.0.1:$cli >"$WORK/$prefix-api.log" 2>&1 & started+=($!); PIDS+=($!)
  wait_http http://127.0.0.1:$cli/ready
  # remote_key NAME: sets KEY to a key whose grain lives on the silo process, or to "" after 8 tries.
  remote_key() {
    for attempt in 1 2 3 4 5 6 7 8; do
      KEY="$(publish_model http://127.0.0.1:$cli $1-$attempt)"
      [[ "$KEY" == pk_live_* ]] || { say "publish failed: $KEY"; exit 1; }
      before=$(cpu_ticks "${started[0]}")
      DURATION=2 run_wrk probe http://127.0.0.1:$cli/api/validate-api-key "$CONNECTIONS" 2 >/dev/null
      after=$(cpu_ticks "${started[0]}")
      # Hosting the grain costs the silo process a tenth of a CPU-second or more in 2 s (less than one might think:
      # concurrent checks go in batches); idle, it costs a tick or two.
      if (( (after - before) * 20 >= TICKS )); then return; fi
      say "   attempt $attempt: the key's grain landed in the API host's own silo; publishing another model"
      KEY=""
    done
  }
  remote_key bench-$prefix-half; local key2="$KEY" # for half and low (see EMB_KEY2)
  remote_key bench-$prefix
  [[ -n "$KEY" && -n "$key2" ]] || { say "member: the key's grain never landed on the silo process; skipped"; return; }
  DURATION=$WARMUP run_wrk warmup http://127.0.0.1:$cli/api/validate-api-key "$CONNECTIONS" 2 >/dev/null
  local cpu_before=($(cpu_ticks "${started[@]}"))
  RESULTS+=("$(run_wrk $prefix-peak http://127.0.0.1:$cli/api/validate-api-key "$CONNECTIONS" 2)")
  local cpu_after=($(cpu_ticks "${started[@]}"))
  CPU_LINES+=("$(awk -v t=$TICKS -v l=$prefix-peak -v a="${cpu_after[*]}" -v b="${cpu_before[*]}" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%s CPU seconds: silo %.1f, API host with silo %.1f\n", l, (x[1]-y[1])/t, (x[2]-y[2])/t }')")
  KEY="$key2"
  RESULTS+=("$(run_paced $prefix-half http://127.0.0.1:$cli/api/validate-api-key "$(half_of $prefix-peak)")")
  RESULTS+=("$(run_wrk $prefix-low http://127.0.0.1:$cli/api/validate-api-key "$LOW_CONNECTIONS" 1)")
  for i in "${started[@]}"; do kill "$i" 2>/dev/null || true; done
  for i in "${started[@]}"; do wait "$i" 2>/dev/null || true; done
}
[[ "${SKIP_MEMBER:-0}" == 1 ]] || run_member
# CLUSTER_VARIANTS: ';'-separated environment sets, each one more cluster run in the same session (labels v1, v2, ...),
#   e.g. CLUSTER_VARIANTS="DOTNET_gcServer=0;DOTNET_GCHeapCount=1".
IFS=';' read -r -a VARIANTS <<<"${CLUSTER_VARIANTS:-}"
for i in "${!VARIANTS[@]}"; do run_cluster "v$((i + 1))" "${VARIANTS[$i]}"; done

say "load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg); BOX_ENV='$BOX_ENV'"
printf '\n%-16s %10s %10s %10s %8s\n' run req/s p50_ms p99_ms non2xx
for r in "${RESULTS[@]}"; do printf '%-16s %10s %10s %10s %8s\n' $r; done
base=$(printf '%s\n' "${RESULTS[@]}" | awk '$1=="baseline-peak"{print $2}')
for i in "${!VARIANTS[@]}"; do say "v$((i + 1)): ${VARIANTS[$i]}"; done
for l in "${CPU_LINES[@]}"; do say "$l"; done
for label in $(printf '%s\n' "${RESULTS[@]}" | awk '$1 !~ /^baseline/ && $1 ~ /-peak$/ {print $1}'); do
  rps=$(printf '%s\n' "${RESULTS[@]}" | awk -v l=$label '$1==l{print $2}')
  awk -v l=$label -v r="$rps" -v b="$base" 'BEGIN { printf "%s / baseline-peak throughput: %.2f\n", l, r/b }'
done
say "(wrk outputs and service logs in $WORK)"
