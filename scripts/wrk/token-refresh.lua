-- wrk script: refresh token rotation. Each thread starts with its share of the refresh tokens
-- in GATEHOUSE_BENCH_BODIES (one per connection) and always presents the newest token of a
-- family: a response's refresh_token goes back on the queue for the next request. wrk asks a
-- thread for one request more than it has connections before the first answer, so the
-- benchmark gives each thread one family more.
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

function init(args)
  local count = tonumber(os.getenv("GATEHOUSE_BENCH_THREADS"))
  client_id = os.getenv("GATEHOUSE_BENCH_CLIENT")
  queue = {}
  local n = 0
  for line in io.lines(os.getenv("GATEHOUSE_BENCH_BODIES")) do
    if n % count == index then table.insert(queue, line) end
    n = n + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["X-Forwarded-Host"] = "acme.example"
end

function request()
  local token = table.remove(queue, 1)
  if token == nil then error("no refresh token left: a refresh failed") end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(queue, token) else io.stderr:write("refresh failed: " .. status .. " " .. body .. "\n") end
end
