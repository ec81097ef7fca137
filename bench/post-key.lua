-- wrk script: POST /api/validate-api-key with the key in X-API-Key (as the gateway's ext_authz sends it).
wrk.method = "POST"
wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY") or "missing"
wrk.headers["Content-Length"] = "0"

-- BENCH_DELAY_MS: each connection waits on average this long after every answer before its next request, so a
-- known number of connections offers a known load (bench/validate-key.sh's "half" runs; Debian packages no wrk2).
-- The wait is drawn uniformly from 0 to twice the mean: equal waits would keep the connections in step and turn
-- the load into bursts of every connection at once.
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return math.random(0, 2 * pause)
  end
end
