-- wrk script: authorization code redemptions, each code once. The benchmark writes one request
-- body per line to GATEHOUSE_BENCH_BODIES; thread i of n takes lines i, i+n, i+2n, ...
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local count = tonumber(os.getenv("GATEHOUSE_BENCH_THREADS"))
  bodies = {}
  local n = 0
  for line in io.lines(os.getenv("GATEHOUSE_BENCH_BODIES")) do
    if n % count == index then table.insert(bodies, line) end
    n = n + 1
  end
  next_body = 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["X-Forwarded-Host"] = "acme.example"
end

function request()
  local body = bodies[next_body]
  if body == nil then error("out of codes: run a shorter phase or generate more") end
  next_body = next_body + 1
  return wrk.format(nil, nil, nil, body)
end
