-- wrk script: flash-sale admission attempts, each request as one of many logged-in buyers.
-- Usage: wrk -t2 -c64 -d15s -s scripts/bench/flash_sale.lua http://127.0.0.1:PORT
--   FLASH_SALE=<id> FLASH_COOKIES=<file with one "aidmart_session=…" line per buyer>
-- Prints one "status CODE: COUNT" line per answer status at the end.
local sale = os.getenv("FLASH_SALE") or "1"
local file = os.getenv("FLASH_COOKIES") or "/tmp/flash-cookies.txt"
local cookies = {}
for line in io.lines(file) do
  if #line > 0 then cookies[#cookies + 1] = line end
end
local body = '{"quantity":1,"points":0,"address":{"name":"王芳","mobile":"13900139000",' ..
  '"province":"河北省","city":"张家口市","district":"沽源县","detail":"平定堡镇 8 号"}}'
local path = "/api/v1/flash-sales/" .. sale .. "/orders"

local threads = {}
local offset = 0

function setup(thread)
  thread:set("n", offset)
  offset = offset + 7919
  table.insert(threads, thread)
end

-- Each buyer's request is built once, so the generator spends its time sending, not formatting.
function init(args)
  statuses = {}
  requests = {}
  for i, cookie in ipairs(cookies) do
    requests[i] = wrk.format("POST", path, { ["Content-Type"] = "application/json", ["Cookie"] = cookie }, body)
  end
end

function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    io.write(string.format("status %d: %d\n", status, count))
  end
end
