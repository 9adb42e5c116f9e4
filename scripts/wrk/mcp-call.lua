-- wrk script: MCP tools/call over Streamable HTTP (one JSON-RPC request per POST). With
-- GATEHOUSE_BENCH_TOKENS (a file, one access token per line), each request presents the next
-- token in turn; without it, no Authorization header is sent. GATEHOUSE_BENCH_PROTOCOL names the
-- protocol revision (2025-11-25 by default); for 2026-07-28 the body must carry its `_meta`, and
-- the routing headers name the method and GATEHOUSE_BENCH_TOOL.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["X-Forwarded-Host"] = "acme.example"
local protocol = os.getenv("GATEHOUSE_BENCH_PROTOCOL")
if protocol == nil or protocol == "" then protocol = "2025-11-25" end
wrk.headers["MCP-Protocol-Version"] = protocol
if protocol == "2026-07-28" then
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = os.getenv("GATEHOUSE_BENCH_TOOL") or "whoami"
end
wrk.body = os.getenv("GATEHOUSE_BENCH_BODY")

local tokens = {}
local path = os.getenv("GATEHOUSE_BENCH_TOKENS")
if path ~= nil and path ~= "" then
  for line in io.lines(path) do
    if line ~= "" then tokens[#tokens + 1] = "Bearer " .. line end
  end
end
local counter = 0

request = function()
  if #tokens > 0 then
    counter = counter + 1
    wrk.headers["Authorization"] = tokens[(counter % #tokens) + 1]
  end
  return wrk.format()
end
