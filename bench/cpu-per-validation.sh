#!/usr/bin/env bash
# CPU time the API host spends per key validation, for one or more builds of it, next to the bare Kestrel baseline:
# the figure that decides whether a hot-path trick stays (it must save more than a tenth). CPU per request, unlike
# throughput, hardly moves with what else the machine is doing, so variants can be compared on a busy machine.
#   bench/cpu-per-validation.sh [ROUNDS] [SECONDS] [CONNECTIONS] CHECKOUT...
# Each CHECKOUT is a working tree whose src/ApiHost is built in Release (dotnet build src/ApiHost -c Release); the
# first is the reference. Each is started embedded (one process) with its own key; the rounds run every target in
# turn (interleaved), and the script prints CPU microseconds per validation per round and the median, with its ratio
# to the first checkout's. Stops only what it started.
# A CHECKOUT may carry extra environment for its process, after '::' (spaces between settings): the same build with
# and without a setting, e.g. `. ".::METRICS_PORT=19464"` (its label is then the checkout's name, '+', the settings).
# With KeyValidation__Port=N among a checkout's settings, its validations are sent to that port (the dedicated
# validation listener) instead of the API port; add HOST=127.0.0.1 to keep that listener on loopback.
# SCRAPE=SECONDS: while measuring, fetch /metrics every SECONDS from each target that has a METRICS_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
ROUNDS="${1:-5}"; SECONDS_PER_RUN="${2:-8}"; CONNECTIONS="${3:-32}"; shift 3
CHECKOUTS=("$@")
(( ${#CHECKOUTS[@]} > 0 )) || { echo "usage: $0 ROUNDS SECONDS CONNECTIONS CHECKOUT..." >&2; exit 2; }
WORK="$(mktemp -d /tmp/bench-cpu.XXXXXX)"
source "$ROOT/bench/common.sh"
for p in src/KubeEmulator bench/Baseline src/ApiHost; do dotnet build "$p" -c Release -v q -nologo >/dev/null; done
start_infrastructure
TICKS=$(getconf CLK_TCK)

LABELS=(baseline); PORTS=($BASE); PROCS=($BASE_PID); KEYS=(none)
SCRAPE_URLS=()
for target in "${CHECKOUTS[@]}"; do
  checkout="${target%%::*}"; settings=""; [[ "$target" == *::* ]] && settings="${target#*::}"
  label="$(basename "$(cd "$checkout" && pwd)")${settings:++$settings}"; port=$(free_port)
  [[ "$settings" =~ METRICS_PORT=([0-9]+) ]] && SCRAPE_URLS+=("http://127.0.0.1:${BASH_REMATCH[1]}/metrics")
  env $settings dotnet "$(BIN src/ApiHost Inference.ApiHost "$checkout")" --urls http://127.0.0.1:$port --Cluster:TablePrefix=cpu$RANDOM \
    --Cluster:SiloPort=$(free_port) --Cluster:GatewayPort=$(free_port) >"$WORK/${label//\//_}.log" 2>&1 & PIDS+=($!)
  pid=$!
  wait_http http://127.0.0.1:$port/ready
  aim=$port; [[ "$settings" =~ KeyValidation__Port=([0-9]+) ]] && aim=${BASH_REMATCH[1]}
  # A key per round (and one for the warm-up): a fast run spends more than the largest per-minute limit a key can
  # have, and a limited answer is another path than the one measured.
  keys=""
  for k in $(seq 0 "$ROUNDS"); do
    key="$(publish_model http://127.0.0.1:$port "cpu-${#LABELS[@]}-$k")"
    [[ "$key" == pk_live_* ]] || { say "publish failed on $label: $key"; exit 1; }
    keys+="$key "
  done
  LABELS+=("$label"); PORTS+=($aim); PROCS+=($pid); KEYS+=("$keys")
done

# measure I ROUND -> "cpu_us_per_request requests non2xx" (round 0 is the warm-up)
measure() {
  local i="$1" before after out keys
  read -ra keys <<<"${KEYS[$i]}"
  before=$(cpu_ticks "${PROCS[$i]}")
  out="$(BENCH_KEY="${keys[$2]:-none}" wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$ROOT/bench/post-key.lua" "http://127.0.0.1:${PORTS[$i]}/api/validate-api-key")"
  after=$(cpu_ticks "${PROCS[$i]}")
  awk -v b="$before" -v a="$after" -v t="$TICKS" '
    / requests in / { n=$1 } /Non-2xx/ { bad=$5 }
    END { printf "%.1f %d %d\n", (a-b)/t*1e6/n, n, bad+0 }' <<<"$out"
}

if [[ -n "${SCRAPE:-}" && ${#SCRAPE_URLS[@]} -gt 0 ]]; then
  (while sleep "$SCRAPE"; do for u in "${SCRAPE_URLS[@]}"; do curl -s -o /dev/null "$u"; done; done) & PIDS+=($!)
fi
say "== warm-up"
for i in "${!LABELS[@]}"; do SECONDS_PER_RUN=10 measure "$i" 0 >/dev/null; done
say "== $ROUNDS rounds of ${SECONDS_PER_RUN}s, $CONNECTIONS connections, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A SAMPLES
for r in $(seq 1 "$ROUNDS"); do
  line="round $r:"
  for i in "${!LABELS[@]}"; do
    read -r us n bad < <(measure "$i" "$r")
    (( bad == 0 )) || { say "${LABELS[$i]}: $bad answers were not 200"; exit 1; }
    SAMPLES[$i]+="$us "; line+=" ${LABELS[$i]} ${us}us"
  done
  echo "$line"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
ref=""
for i in "${!LABELS[@]}"; do
  median=$(tr ' ' '\n' <<<"${SAMPLES[$i]}" | grep . | sort -n | awk '{ v[NR]=$1 } END { print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }')
  if (( i == 1 )); then ref=$median; fi
  if [[ -n "$ref" ]]; then
    printf '%-20s median %8.1f us CPU per validation  (%.2f of %s)\n' "${LABELS[$i]}" "$median" "$(awk -v m="$median" -v r="$ref" 'BEGIN { print m / r }')" "${LABELS[1]}"
  else
    printf '%-20s median %8.1f us CPU per request\n' "${LABELS[$i]}" "$median"
  fi
done
