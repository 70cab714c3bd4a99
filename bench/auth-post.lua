-- wrk script for bench/run-register-flood.sh: POST a JSON body to wrk.path
-- and count every response by status. BENCH_MODE says which body:
--
--   register  {username, email, password}, a new username on every request
--             ("<BENCH_RUN><thread>x<n>"), so that every one is a fresh name
--   login     {username: BENCH_USER, password: BENCH_PASSWORD}
--
-- done() prints one line that run-register-flood.sh parses:
--
--   bench: requests=N statuses=CODE:COUNT,... p50_us=X p99_us=Y max_us=Z ...

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local mode, run, password, user
local n = 0
status_text = ""
local statuses = {}

function init(args)
   mode = os.getenv("BENCH_MODE") or ""
   run = os.getenv("BENCH_RUN") or "r"
   password = os.getenv("BENCH_PASSWORD") or ""
   user = os.getenv("BENCH_USER") or ""
   if (mode ~= "register" and mode ~= "login") or password == "" then
      error("BENCH_MODE must be register or login, and BENCH_PASSWORD set")
   end
end

function request()
   local body
   if mode == "register" then
      n = n + 1
      local name = string.format("%s%dx%d", run, id or 0, n)
      body = string.format(
         '{"username":"%s","email":"%s@example.com","password":"%s"}',
         name, name, password)
   else
      body = string.format('{"username":"%s","password":"%s"}', user, password)
   end
   return wrk.format("POST", wrk.path,
      { ["Host"] = wrk.headers["Host"],
        ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   -- thread:get copies plain values only: the counts travel as a string.
   local parts = {}
   for code, count in pairs(statuses) do
      table.insert(parts, code .. ":" .. count)
   end
   status_text = table.concat(parts, ",")
end

function done(summary, latency, requests_stats)
   local by_code = {}
   for _, thread in ipairs(threads) do
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
      "bench: requests=%d statuses=%s p50_us=%d p90_us=%d p99_us=%d " ..
      "max_us=%d connect_errors=%d read_errors=%d write_errors=%d " ..
      "timeouts=%d\n",
      summary.requests, (#parts > 0 and table.concat(parts, ",") or "-"),
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, e.connect, e.read, e.write, e.timeout))
end
