-- wrk script: buyers ordering one SKU back to back (scripts/bench_scale.sh).
-- Env: BENCH_COOKIES  a file with one session cookie value per line (one per buyer)
--      BENCH_SKU      the SKU's id, or a comma-separated list: buyer k then always orders the
--                     k-th SKU of the list (one SKU per buyer, the comparison without a hot row)
--      BENCH_RUN      a run id, so Idempotency-Keys never repeat across runs
-- Each request is one order (one line, quantity 1, no points) by the next buyer, with a fresh
-- Idempotency-Key. Answers other than 201 are counted and printed at the end.

local cookies = {}
for line in io.lines(os.getenv("BENCH_COOKIES")) do
  if #line > 0 then cookies[#cookies + 1] = line end
end
local skus = {}
for id in string.gmatch(os.getenv("BENCH_SKU"), "[^,]+") do skus[#skus + 1] = id end
local run = os.getenv("BENCH_RUN") or "run"

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local function body(sku)
  return '{"lines":[{"sku_id":' .. sku .. ',"quantity":1}],' ..
    '"address":{"name":"张敏","mobile":"13800138000","province":"北京市","city":"北京市",' ..
    '"district":"西城区","detail":"金融大街 1 号"}}'
end

function init(args)
  n = 0
  ok = 0
  failed = 0
end

function request()
  n = n + 1
  local k = (n * 7 + tid * 13) % #cookies
  return wrk.format("POST", "/api/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Cookie"] = "aidmart_session=" .. cookies[k + 1],
    ["Idempotency-Key"] = string.format("%s-%d-%d", run, tid, n),
  }, body(skus[(k % #skus) + 1]))
end

function response(status, headers, body)
  if status == 201 then ok = ok + 1 else failed = failed + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_failed = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_failed = total_failed + t:get("failed")
  end
  io.write(string.format("orders: %d created, %d other answers\n", total_ok, total_failed))
  io.write(string.format("latency p50 %.1f ms, p99 %.1f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
