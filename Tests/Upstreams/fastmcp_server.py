"""An off-the-shelf FastMCP server whose only authentication is FastMCP's own JWT bearer
verifier, configured with the tenant's JWKS URL, issuer and audience: what an operator sets
up to put such a server behind Gatehouse. Calls through the proxy carry a valid assertion;
direct calls (no token, or a client's Gatehouse access token) are refused.

    python fastmcp_server.py --port 8002 --issuer https://mcp.example --jwks-url https://mcp.example/oauth/jwks \
        --audience http://127.0.0.1:8002/mcp
"""

import argparse
import json

from fastmcp import FastMCP
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--jwks-url", required=True)
    parser.add_argument("--audience", required=True)
    options = parser.parse_args()

    verifier = JWTVerifier(jwks_uri=options.jwks_url, issuer=options.issuer, audience=options.audience, algorithm="ES256")
    server = FastMCP("fastmcp-upstream", auth=verifier)

    @server.tool
    def whoami() -> str:
        """The caller's verified claims."""
        token = get_access_token()
        return json.dumps(token.claims if token else {}, sort_keys=True)

    # JSON answers: the MCP Swift SDK's client, which calls this server in the tests, reads no
    # event streams on Linux.
    server.run(
        transport="http",
        host="127.0.0.1",
        port=options.port,
        path="/mcp",
        log_level="warning",
        show_banner=False,
        json_response=True,
    )


if __name__ == "__main__":
    main()
