#!/bin/bash
# Usage: bench/measure-admin.sh http://127.0.0.1:8085 "$ADMIN_TOKEN"
# Latency of the admin, kubectl and audit routes against a running local box: 200 sequential requests per
# probe (bounded; loopback only), p50/p95/max in ms. The last probe updates the model "demo" in tenant-a,
# so create it first. Every kubectl probe and update leaves an audit record.
B=$1; T=$2
probe() { # name, curl args...
  local name=$1; shift
  for i in $(seq 1 200); do curl -s -o /dev/null -w "%{time_total}\n" -H "Authorization: Bearer $T" "$@"; done \
    | sort -n | awk -v n="$name" '{a[NR]=$1*1000} END {printf "%-28s p50 %.1f ms  p95 %.1f ms  max %.1f ms\n", n, a[int(NR*0.5)], a[int(NR*0.95)], a[NR]}'
}
probe "kubectl get pods -A" -X POST -H "Content-Type: application/json" -d '{"command":"get pods -A"}' $B/api/admin/kubectl
probe "kubectl get nodes -o yaml" -X POST -H "Content-Type: application/json" -d '{"command":"get nodes -o yaml"}' $B/api/admin/kubectl
probe "kubectl refused (;)" -X POST -H "Content-Type: application/json" -d '{"command":"get pods; id"}' $B/api/admin/kubectl
probe "GET /api/admin/system" $B/api/admin/system
probe "GET /api/admin/tenants" $B/api/admin/tenants
probe "GET /api/admin/audit?limit=50" "$B/api/admin/audit?limit=50"
probe "GET /api/admin/audit?tenant=tenant-a" "$B/api/admin/audit?tenant=tenant-a&limit=50"
probe "PUT model (audited)" -X PUT -H "Content-Type: application/json" -d '{"maxReplicas":3}' "$B/api/models/demo?namespace=tenant-a"
