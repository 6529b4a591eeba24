-- walk.lua: wrk walks a list of URL paths, the same list for every server.
--
--   wrk -t2 -c64 -d20s --latency -s walk.lua http://127.0.0.1:PORT -- paths.txt 2
--
-- (the last argument: wrk's thread count, which init cannot see otherwise:
-- wrk runs setup and init of one thread before it sets up the next).
--
-- paths.txt holds one path per line (readpath pages writes it, shuffled
-- with a fixed seed, so hot pages and tail pages interleave). Thread n of
-- T starts at offset n*len/T and takes the next path for every request,
-- wrapping around: over a run each thread requests every page about as
-- often, whichever server answers. No response() function: defining one
-- makes wrk parse every response in Lua, which would slow the client.
-- done() prints one line "readpath-wrk: {json}" after wrk's own report,
-- with exact percentiles (microseconds) for readpath report.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1] or "paths.txt"
  paths = {}
  for line in io.lines(file) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("walk.lua: no paths in " .. file)
  end
  local n = tonumber(args[2]) or 1
  i = math.floor(id * #paths / n)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'readpath-wrk: {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d},"threads":%d}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), #threads))
end
