-- wrk script: MCP tools/call over Streamable HTTP (one JSON-RPC request per POST). With
-- GATEHOUSE_BENCH_TOKENS (a file, one access token per line), each request presents the next
-- token in turn; without it, no Authorization header is sent. GATEHOUSE_BENCH_PROTOCOL names the
-- protocol revision (2025-11-25 by default); for 2026-07-28 the body must carry its `_meta`, and
-- the routing headers name the method and GATEHOUSE_BENCH_TOOL. With GATEHOUSE_BENCH_DPOP (a
-- file, one "token<TAB>proof" line per request), each request presents a DPoP-bound token with
-- its own proof; wrk's threads take every GATEHOUSE_BENCH_THREADS-th line each, so that no proof
-- is sent twice.
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
local proofs = {}
local dpop = os.getenv("GATEHOUSE_BENCH_DPOP")
if dpop ~= nil and dpop ~= "" then
  for line in io.lines(dpop) do
    local token, proof = line:match("^([^\t]+)\t(.+)$")
    if token ~= nil then proofs[#proofs + 1] = { "DPoP " .. token, proof } end
  end
end
local counter = 0

-- Each thread learns its index (wrk copies the globals set in `setup`).
local threads = 0
setup = function(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end
local stride = tonumber(os.getenv("GATEHOUSE_BENCH_THREADS") or "1")

request = function()
  if #proofs > 0 then
    local entry = proofs[((counter * stride + (thread_index or 0)) % #proofs) + 1]
    counter = counter + 1
    wrk.headers["Authorization"] = entry[1]
    wrk.headers["DPoP"] = entry[2]
  elseif #tokens > 0 then
    counter = counter + 1
    wrk.headers["Authorization"] = tokens[(counter % #tokens) + 1]
  end
  return wrk.format()
end
