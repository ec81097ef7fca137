-- wrk script: POST /api/validate-api-key with the key in X-API-Key (as the gateway's ext_authz sends it).
wrk.method = "POST"
wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY") or "missing"
wrk.headers["Content-Length"] = "0"
