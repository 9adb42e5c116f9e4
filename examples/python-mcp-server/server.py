"""A sample MCP server built with the official Python MCP SDK, as a tenant runs it behind
Gatehouse: it does no OAuth of its own (scripts/dev-up starts it behind the demo-proxy tenant;
the end-to-end tests run it as a real upstream). Its `verified_caller` tool checks the identity
assertion the proxy sends (ES256, against the tenant's JWKS, with issuer and audience) using
PyJWT, and answers with the verified claims; `count_with_progress` streams progress
notifications before its result.

    python server.py --port 8001 --issuer https://mcp.example --jwks-url https://mcp.example/oauth/jwks \
        --audience http://127.0.0.1:8001/mcp [--stateless] [--json-response]
"""

import argparse
import asyncio
import hashlib
import json
import ssl

import jwt
import uvicorn
from mcp.server.mcpserver import Context, MCPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--jwks-url", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--stateless", action="store_true")
    # One JSON answer per request instead of an event stream (the MCP Swift SDK's client reads
    # no event streams on Linux; progress notifications are then not sent).
    parser.add_argument("--json-response", action="store_true")
    options = parser.parse_args()

    # SSL_CERT_FILE names the CA that signed the tenant host's certificate.
    keys = jwt.PyJWKClient(options.jwks_url, cache_keys=False, ssl_context=ssl.create_default_context())
    server = MCPServer(name="sdk-upstream", version="1.0.0")

    @server.tool()
    async def verified_caller(ctx: Context) -> str:
        """Who is calling, as the verified identity assertion says."""
        header = (ctx.headers or {}).get("authorization", "")
        if not header.startswith("Bearer "):
            raise ValueError("no identity assertion")
        assertion = header[len("Bearer ") :]
        key = await asyncio.to_thread(keys.get_signing_key_from_jwt, assertion)
        claims = jwt.decode(
            assertion,
            key.key,
            algorithms=["ES256"],
            audience=options.audience,
            issuer=options.issuer,
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
        claims["kid"] = jwt.get_unverified_header(assertion)["kid"]
        return json.dumps(claims, sort_keys=True)

    @server.tool()
    async def upstream_token_fingerprint(ctx: Context) -> str:
        """SHA-256 of the user's upstream provider token, when the tenant hands it on in
        X-Upstream-Token (the token itself is for calling the provider's API, never to show)."""
        token = (ctx.headers or {}).get("x-upstream-token")
        return hashlib.sha256(token.encode()).hexdigest() if token else "none"

    @server.tool()
    async def count_with_progress(steps: int, ctx: Context) -> str:
        """Counts to `steps`, reporting progress at each."""
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
            await asyncio.sleep(0.01)
        return f"counted to {steps}"

    app = server.streamable_http_app(stateless_http=options.stateless, json_response=options.json_response)
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
