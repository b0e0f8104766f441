-- wrk script for bench/run: Segment HTTP Tracking API requests with a unique
-- messageId on every event, so footfall's dedup never skips one.
--
--   wrk ... -s bench/segment.lua URL -- MODE TAG AUTH
--     MODE  "track" (POST /v1/track, one event per request)
--           or "batch:N" (POST /v1/batch, N events per request)
--           or "clickhouse:N:TABLE" (the same N events as rows of a ClickHouse
--           table shaped as bench/store's, POST /?query=INSERT INTO TABLE FORMAT
--           JSONEachRow; AUTH is then ClickHouse's user, "Basic " .. base64("default:"))
--     TAG   run-unique string that starts every messageId
--     AUTH  value of the Authorization header ("Basic ...")
--
-- Every wrk thread has its own Lua state, so messageIds carry the thread id
-- (set from setup()) as well as a per-thread request counter. The counter is
-- fixed width, so the request length is constant: init() builds the request
-- once, split around the places where the counter goes, and request() only
-- fills in the counter and concatenates (cheap enough that wrk is not the
-- bottleneck at 50 KB per request).
--
-- done() prints one machine-readable line starting with "RESULT" that
-- bench/run parses; response() counts every non-2xx answer.

local threads = {}
local next_tid = 1

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

-- thread-local state (each thread's Lua state has its own copy)
non2xx = 0
ok = 0
first_bad = ""
local parts        -- request text, counter slots at even indexes
local slots = {}   -- indexes of parts that receive the counter
local counter = 0
local CTR = "\1CTR\1"  -- placeholder; never appears in the template otherwise

-- The event's parts, shared by both shapes of it below.
local ANONYMOUS_ID = "5d6a1c1e-8f3b-4c2e-9a51-0c3f2e9d7b41"
local CONTEXT = '{"library":{"name":"@segment/analytics-node","version":"2.1.2"},'
   .. '"ip":"203.0.113.7",'
   .. '"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}'
local function properties(order)
   return '{"orderId":"' .. order .. '","revenue":89.99,"currency":"USD","coupon":"SPRING24"}'
end

local function event_json(user, order, mid, ts)
   -- about 500 bytes, shaped like what analytics-node sends for a track call
   return '{"type":"track","event":"Order Completed",'
      .. '"userId":"' .. user .. '",'
      .. '"anonymousId":"' .. ANONYMOUS_ID .. '",'
      .. '"properties":' .. properties(order) .. ','
      .. '"context":' .. CONTEXT .. ','
      .. '"timestamp":"' .. ts .. '",'
      .. '"messageId":"' .. mid .. '"}'
end

-- JSON text as a JSON string (the texts above hold no backslashes or control characters).
local function json_string(text)
   return '"' .. text:gsub('"', '\\"') .. '"'
end

-- The same event as a row of bench/store's ClickHouse table: its columns filled as footfall
-- would from event_json's fields, properties and context as JSON text (ClickHouse 18.16
-- takes no nested objects), times in µs.
local function clickhouse_row(user, order, mid, ts_us)
   return '{"time":' .. ts_us .. ',"received_at":' .. ts_us .. ',"type":"track","event":"Order Completed","name":"",'
      .. '"message_id":"' .. mid .. '","anonymous_id":"' .. ANONYMOUS_ID .. '",'
      .. '"user_id":"' .. user .. '","write_key":"bench_write_key",'
      .. '"properties":' .. json_string(properties(order)) .. ','
      .. '"context":' .. json_string(CONTEXT) .. ','
      .. '"session":0}'
end

function init(args)
   local mode = args[1] or "track"
   local tag = args[2] or "bench"
   local auth = args[3] or "Basic YmVuY2hfd3JpdGVfa2V5Og=="
   local now = os.time()
   local ts = os.date("!%Y-%m-%dT%H:%M:%S.000Z", now)
   local prefix = tag .. "-t" .. tostring(tid or 0) .. "-" .. CTR
   local user = "user-" .. tostring(tid or 0) .. CTR

   local path, body
   if mode == "track" then
      path = "/v1/track"
      body = event_json(user, "o" .. CTR, prefix, ts)
      body = body:sub(1, -2) .. ',"sentAt":"' .. ts .. '"}'
   elseif mode:match("^clickhouse:") then
      local n, tbl = mode:match("^clickhouse:(%d+):([%w_]+)$")
      n = tonumber(n)
      assert(n and n > 0, "bad mode " .. mode)
      path = "/?query=INSERT%20INTO%20" .. tbl .. "%20FORMAT%20JSONEachRow"
      local rows = {}
      for i = 1, n do
         rows[i] = clickhouse_row(user, "o" .. CTR .. "-" .. i, prefix .. string.format("-%03d", i), now .. "000000")
      end
      body = table.concat(rows, "\n") .. "\n"
   else
      local n = tonumber(mode:match("^batch:(%d+)$"))
      assert(n and n > 0, "bad mode " .. mode)
      path = "/v1/batch"
      local evs = {}
      for i = 1, n do
         evs[i] = event_json(user, "o" .. CTR .. "-" .. i, prefix .. string.format("-%03d", i), ts)
      end
      body = '{"batch":[' .. table.concat(evs, ",") .. '],"sentAt":"' .. ts .. '"}'
   end

   -- length with the placeholder replaced by the 10-digit counter
   local nslots = select(2, body:gsub(CTR, ""))
   local len = #body - nslots * (#CTR - 10)
   local head = "POST " .. path .. " HTTP/1.1\r\n"
      .. "Host: " .. wrk.host .. ":" .. tostring(wrk.port) .. "\r\n"
      .. "User-Agent: footfall-bench (wrk)\r\n"
      .. "Content-Type: application/json\r\n"
      .. "Authorization: " .. auth .. "\r\n"
      .. "Content-Length: " .. tostring(len) .. "\r\n"
      .. "\r\n"
   local text = head .. body

   parts = {}
   local pos = 1
   while true do
      local s, e = text:find(CTR, pos, true)
      if not s then break end
      table.insert(parts, text:sub(pos, s - 1))
      table.insert(parts, "")
      slots[#slots + 1] = #parts
      pos = e + 1
   end
   table.insert(parts, text:sub(pos))
end

function request()
   counter = counter + 1
   local c = string.format("%010d", counter)
   for i = 1, #slots do
      parts[slots[i]] = c
   end
   return table.concat(parts)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      non2xx = non2xx + 1
      if first_bad == "" then
         first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200):gsub("%s+", " ")
      end
   end
end

function done(summary, latency, requests)
   local bad, good, sample = 0, 0, ""
   for _, t in ipairs(threads) do
      bad = bad + (t:get("non2xx") or 0)
      good = good + (t:get("ok") or 0)
      local fb = t:get("first_bad") or ""
      if sample == "" and fb ~= "" then sample = fb end
   end
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d ok=%d non2xx=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d"
         .. " err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d\n",
      summary.requests, summary.duration, good, bad,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.timeout, e.status))
   if sample ~= "" then
      io.write("FIRSTBAD " .. sample .. "\n")
   end
end
