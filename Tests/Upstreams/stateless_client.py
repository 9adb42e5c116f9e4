"""The official Python MCP SDK's high-level client at a tenant's `/mcp`, through the front door
with an access token it was given. It negotiates the protocol the way it does with any server
(`server/discover` first, the 2025 handshake only if that fails), lists the tools and calls
one, and prints what it saw as JSON: the negotiated version, the tool names, and the call's text.

    python stateless_client.py https://mcp.example/mcp <access token> whoami
"""

import asyncio
import json
import os
import ssl
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, tool: str) -> None:
    tls = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, verify=tls, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = await client.list_tools()
            result = await client.call_tool(tool, {})
            print(
                json.dumps(
                    {
                        "version": client.protocol_version,
                        "tools": sorted(t.name for t in listed.tools),
                        "text": result.content[0].text if result.content else "",
                        "is_error": bool(result.is_error),
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
