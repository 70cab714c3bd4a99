-- wrk script for bench/run-edge.sh: every request carries a different
-- "Authorization: Bearer <token>", round robin over the tokens listed one per
-- line in the file named by BENCH_TOKENS, and every response whose status is
-- not 200 is counted. done() prints one line that run-edge.sh parses:
--
--   bench: requests=N non200=M statuses=CODE:COUNT,... p50_us=X p99_us=Y ...
--
-- The same script drives nginx and the edge, so both get identical requests.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local requests = {}
local n = 0
local next_req = 1
non200 = 0
status_text = ""
local statuses = {}

function init(args)
   local path = os.getenv("BENCH_TOKENS")
   if path == nil or path == "" then
      error("BENCH_TOKENS must name a file of tokens, one per line")
   end
   local f = assert(io.open(path, "r"))
   for token in f:lines() do
      if token ~= "" then
         n = n + 1
         requests[n] = wrk.format("GET", wrk.path,
            { ["Host"] = wrk.headers["Host"],
              ["Authorization"] = "Bearer " .. token })
      end
   end
   f:close()
   if n == 0 then
      error("no tokens in " .. path)
   end
   -- Threads start at different places in the pool (a prime stride) so
   -- that they do not walk it in step.
   next_req = ((id or 0) * 7919) % n + 1
end

function request()
   local r = requests[next_req]
   next_req = next_req % n + 1
   return r
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      statuses[status] = (statuses[status] or 0) + 1
      -- thread:get copies plain values only, so the breakdown travels as
      -- a string.
      local parts = {}
      for code, count in pairs(statuses) do
         table.insert(parts, code .. ":" .. count)
      end
      status_text = table.concat(parts, ",")
   end
end

function done(summary, latency, requests_stats)
   local bad = 0
   local by_code = {}
   for _, thread in ipairs(threads) do
      bad = bad + (thread:get("non200") or 0)
      local s = thread:get("status_text") or ""
      for code, count in s:gmatch("(%d+):(%d+)") do
         by_code[code] = (by_code[code] or 0) + tonumber(count)
      end
   end
   local parts = {}
   for code, count in pairs(by_code) do
      table.insert(parts, code .. ":" .. count)
   end
   table.sort(parts)
   local e = summary.errors
   io.write(string.format(
      "bench: requests=%d non200=%d statuses=%s p50_us=%d p90_us=%d p99_us=%d " ..
      "max_us=%d connect_errors=%d read_errors=%d write_errors=%d " ..
      "timeouts=%d wrk_status_errors=%d\n",
      summary.requests, bad, (#parts > 0 and table.concat(parts, ",") or "-"),
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, e.connect, e.read, e.write, e.timeout, e.status))
end
