-- wrk script for bench/scaling.py: POST a streamed /v1/chat/completions with a bearer token,
-- count the streams that ended with "data: [DONE]", and print the totals as one JSON line.
--   SCALING_BODY='{"model": ...}' SCALING_TOKEN=... wrk -t1 -c192 -d20s -s bench/scaling.lua URL

wrk.method = "POST"
wrk.body = os.getenv("SCALING_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SCALING_TOKEN")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

complete = 0
incomplete = 0

function response(status, headers, body)
  if status == 200 and string.find(body, "data: [DONE]", 1, true) then
    complete = complete + 1
  else
    incomplete = incomplete + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("complete")
    bad = bad + thread:get("incomplete")
  end
  local e = summary.errors
  io.write(string.format(
    '{"complete": %d, "incomplete": %d, "requests": %d, "duration_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    ok, bad, summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
