#!/usr/bin/env bash
# Grain calls that a sequential 429 storm on an exhausted key costs, for one or more builds of the API host.
#   bench/storm-429.sh [REQUESTS] CHECKOUT...
# Each CHECKOUT is a working tree whose src/ApiHost is built in Release (dotnet build src/ApiHost -c Release). Each is
# started embedded (one process, the key grain local) with a metrics port, and gets two keys: one limited to 5 requests
# a minute, one to 5 an hour. Each key's limit is spent, then REQUESTS (default 2000) validations are sent one after
# another on one connection (curl), every one a 429. Prints per checkout and key: the answers by status, how long the
# storm took, and during it the host's grain calls for validation (inference.key_validation.grain_calls: lease
# requests and direct validations), the lease requests the key grain answered (inference.key_leases.grants) and the
# validations by what decided them. A host's reports of what it spent or refused that go without a lease request
# (ReturnAsync, sent by its sweep when a lease or memo ends with no request to carry it) are in neither count.
# Loopback only; stops only what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
REQUESTS="${1:-2000}"; shift || true
CHECKOUTS=("$@")
(( ${#CHECKOUTS[@]} > 0 )) || { echo "usage: $0 [REQUESTS] CHECKOUT..." >&2; exit 2; }
WORK="$(mktemp -d /tmp/bench-storm.XXXXXX)"
source "$ROOT/bench/common.sh"
for p in src/KubeEmulator bench/Baseline src/ApiHost; do dotnet build "$p" -c Release -v q -nologo >/dev/null; done
start_infrastructure

# metric URL NAME [FILTER] -> the sum of the metric's samples whose labels match FILTER (a regular expression)
metric() {
  curl -s "$1" | awk -v n="$2" -v f="${3:-}" '$1 ~ "^"n"(_total)?({|$)" && $1 ~ f { s += $NF } END { printf "%d", s }'
}

# storm LABEL BASE METRICS KEY -> one line of figures
storm() {
  local label="$1" url="$2/api/validate-api-key" metrics="$3" key="$4" calls leases memo started ended codes
  for _ in $(seq 1 "$REQUESTS"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done >"$WORK/storm.curl"
  calls=$(metric "$metrics" inference_key_validation_grain_calls)
  leases=$(metric "$metrics" inference_key_leases_grants)
  memo=$(metric "$metrics" inference_key_validation_validations 'decided_by="memo"')
  started=$(date +%s.%N)
  codes="$(curl -s -X POST -H "X-API-Key: $key" -w '%{http_code}\n' -K "$WORK/storm.curl" | sort | uniq -c | awk '{ printf "%s%sx%s", sep, $1, $2; sep=" " }')"
  ended=$(date +%s.%N)
  printf '%-28s %s in %.1f s; grain calls %d, lease answers %d, decided by memo %d\n' "$label" "$codes" \
    "$(awk -v a="$started" -v b="$ended" 'BEGIN { print b - a }')" \
    $(( $(metric "$metrics" inference_key_validation_grain_calls) - calls )) \
    $(( $(metric "$metrics" inference_key_leases_grants) - leases )) \
    $(( $(metric "$metrics" inference_key_validation_validations 'decided_by="memo"') - memo ))
}

say "== $REQUESTS sequential validations of an exhausted key, per checkout; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${!CHECKOUTS[@]}"; do
  checkout="${CHECKOUTS[$n]}"; label="$(basename "$(cd "$checkout" && pwd)")"; port=$(free_port); mport=$(free_port)
  METRICS_PORT=$mport dotnet "$(BIN src/ApiHost Inference.ApiHost "$checkout")" --urls http://127.0.0.1:$port --Cluster:TablePrefix=storm$RANDOM \
    --Cluster:SiloPort=$(free_port) --Cluster:GatewayPort=$(free_port) >"$WORK/$label.log" 2>&1 & PIDS+=($!)
  wait_http http://127.0.0.1:$port/ready
  for window in minute hour; do
    if [[ $window == minute ]]; then limits='"requestsPerMinute":5,"requestsPerHour":1000,"burstLimit":5'
    else limits='"requestsPerMinute":5,"requestsPerHour":5,"burstLimit":5'; fi
    key="$(publish_model http://127.0.0.1:$port "storm-$window-$n" "{\"config\":{\"rateLimiting\":{$limits,\"tokensPerHour\":0}}}")"
    [[ "$key" == pk_live_* ]] || { say "publish failed on $label: $key"; exit 1; }
    for _ in 1 2 3 4 5; do curl -s -o /dev/null -X POST -H "X-API-Key: $key" "http://127.0.0.1:$port/api/validate-api-key"; done
    storm "$label 5/$window" "http://127.0.0.1:$port" "http://127.0.0.1:$mport/metrics" "$key"
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
