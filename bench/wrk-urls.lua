-- wrk script: each request picks a random path from the file named by the
-- WRK_URLS environment variable (one absolute path per line), and done()
-- prints one machine-readable line:
--   WRK requests bytes duration_us errors_connect errors_read errors_write errors_status errors_timeout lat_mean_us lat_p50_us lat_p99_us
local paths = {}

function init(args)
  local f = assert(io.open(os.getenv("WRK_URLS"), "r"))
  for line in f:lines() do
    if #line > 0 then paths[#paths + 1] = line end
  end
  f:close()
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d %d %d %.0f %d %d\n",
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99)))
end
