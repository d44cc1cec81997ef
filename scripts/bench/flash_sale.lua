-- wrk script: flash-sale admission attempts, each request as one of many logged-in buyers.
-- Usage: wrk -t2 -c64 -d15s -s scripts/bench/flash_sale.lua http://127.0.0.1:PORT
--   FLASH_SALE=<id> FLASH_COOKIES=<file with one "aidmart_session=…" line per buyer>
local sale = os.getenv("FLASH_SALE") or "1"
local file = os.getenv("FLASH_COOKIES") or "/tmp/flash-cookies.txt"
local cookies = {}
for line in io.lines(file) do
  if #line > 0 then cookies[#cookies + 1] = line end
end
local body = '{"quantity":1,"points":0,"address":{"name":"王芳","mobile":"13900139000",' ..
  '"province":"河北省","city":"张家口市","district":"沽源县","detail":"平定堡镇 8 号"}}'
local path = "/api/v1/flash-sales/" .. sale .. "/orders"
local n = 0
local thread_offset = 0

function setup(thread)
  thread:set("thread_offset", thread_offset)
  thread_offset = thread_offset + 7919
end

function init(args)
  n = thread_offset or 0
end

request = function()
  n = n + 1
  local cookie = cookies[(n % #cookies) + 1]
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Cookie"] = cookie,
    ["Idempotency-Key"] = nil,
  }, body)
end

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("requests: %d, non-2xx/3xx: %d, p50 %.1f ms, p99 %.1f ms\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
