#!/usr/bin/env bash
# A/B comparison of key validation latency at a fixed offered load, interleaved so that the machine's drift (other
# work on the same cores) hits every target alike:
#   bench/compare-half.sh OTHER_CHECKOUT [RATE=10000] [ROUNDS=3] [DURATION_SECONDS=10]
# Starts the bare baseline, this checkout's box (A) and OTHER_CHECKOUT's box (B) embedded, each with a published
# key, then runs ROUNDS x (baseline, A, B) of wrk with connections paced as in validate-key.sh's "half" runs
# (PACE_DELAY_MS, default 2) at about RATE req/s, and prints every run (with the CPU time the target process used per
# request answered) plus the median p99 and CPU per request per target.
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
source "$ROOT/bench/common.sh"

say "== building (Release) $ROOT and $OTHER"
for tree in "$ROOT" "$OTHER"; do
  for p in src/ApiHost src/KubeEmulator bench/Baseline; do dotnet build "$tree/$p" -c Release -v q -nologo >/dev/null; done
done
start_infrastructure "$OTHER"

# cluster_args LABEL: a fresh table prefix and free silo/gateway ports, so co-hosted silos never meet
cluster_args() { echo "--Cluster:TablePrefix=cmp$1$RANDOM --Cluster:SiloPort=$(free_port) --Cluster:GatewayPort=$(free_port)"; }

# start_box LABEL TREE ENV: sets PORT and PID; publishes model bench-LABEL and leaves its key in $WORK/LABEL.key
# (not run in a subshell, so that PIDS keeps the box for cleanup)
start_box() {
  local label="$1" tree="$2" env="$3" port
  port=$(free_port); PORT=$port
  (exec env $env dotnet "$(BIN src/ApiHost Inference.ApiHost "$tree")" --urls http://127.0.0.1:$port $(cluster_args "$label") \
    >"$WORK/$label.log" 2>&1) & PIDS+=($!)
  PID=$!
  wait_http "http://127.0.0.1:$port/ready"
  publish_model "http://127.0.0.1:$port" "bench-$label" >"$WORK/$label.key"
  grep -q '^pk_live_' "$WORK/$label.key" || { say "publish on $label failed"; exit 1; }
}
start_box a "$ROOT" "${BOX_ENV_A:-}"; A_PORT=$PORT; A_PID=$PID
if [[ "${B_BASELINE:-0}" == 1 ]]; then
  # B is the bare endpoint again, with BOX_ENV_B (e.g. BASELINE_SILO=box: an idle co-hosted silo).
  B_PORT=$(free_port)
  (exec env ${BOX_ENV_B:-} dotnet "$(BIN bench/Baseline Inference.Bench.Baseline)" --urls http://127.0.0.1:$B_PORT $(cluster_args b) \
    >"$WORK/b.log" 2>&1) & PIDS+=($!)
  B_PID=$!
  wait_http "http://127.0.0.1:$B_PORT/api/validate-api-key" POST
  echo "none" >"$WORK/b.key"
else
  start_box b "$OTHER" "${BOX_ENV_B:-}"; B_PORT=$PORT; B_PID=$PID
fi
echo "none" >"$WORK/base.key"

# run LABEL PORT PID CONNECTIONS DURATION -> "label rps p50_ms p99_ms non2xx cpu_us_per_request"
# (CPU of the target process only: user + system time over the run, divided by the requests it answered)
run() {
  local label="$1" port="$2" pid="$3" c="$4" d="$5" before summary
  before=$(cpu_ticks "$pid")
  summary=$(BENCH_KEY="$(cat "$WORK/$label.key")" BENCH_DELAY_MS="$PAUSE" wrk -t2 -c"$c" -d"${d}s" --latency \
    -s "$ROOT/bench/post-key.lua" "http://127.0.0.1:$port/api/validate-api-key" | wrk_summary "$label")
  awk -v ticks=$(( $(cpu_ticks "$pid") - before )) -v d="$d" '{ printf "%s %.0f\n", $0, ($2 > 0 ? ticks * 10000 / ($2 * d) : 0) }' <<<"$summary"
}
C=$(( (RATE * PAUSE + 999) / 1000 )); (( C >= 2 )) || C=2
say "== warm-up (10 s each), then $ROUNDS rounds of base, a, b at ~$RATE req/s ($C connections pausing 0-$((2 * PAUSE)) ms)"
for t in "base $BASE $BASE_PID" "a $A_PORT $A_PID" "b $B_PORT $B_PID"; do set -- $t; run "$1" "$2" "$3" 64 10 >/dev/null; done
RESULTS="$WORK/results.txt"
echo "run       req/s   p50_ms   p99_ms non2xx us/req"
for r in $(seq 1 "$ROUNDS"); do
  for t in "base $BASE $BASE_PID" "a $A_PORT $A_PID" "b $B_PORT $B_PID"; do
    set -- $t
    run "$1" "$2" "$3" "$C" "$DURATION" | tee -a "$RESULTS" | xargs printf '%-6s %8s %8s %8s %6s %6s\n'
  done
done
echo "A = $ROOT ${BOX_ENV_A:-}; B = $OTHER ${BOX_ENV_B:-}"
median() { sort -n | awk '{ v[NR]=$1 } END { print v[int((NR+1)/2)] }'; } # the lower middle for an even count
for l in base a b; do
  printf '%-6s median p99 %.3f ms, median CPU %s us per request, over %d runs\n' "$l" \
    "$(awk -v l="$l" '$1==l { print $4 }' "$RESULTS" | median)" "$(awk -v l="$l" '$1==l { print $6 }' "$RESULTS" | median)" \
    "$(grep -c "^$l " "$RESULTS")"
done
