"""The official Python MCP SDK as a client of a proxied tenant: it connects through the front
door with an access token it was given, calls `count_with_progress`, and prints the progress it
received as a stream and the result, as JSON.

    python progress_client.py https://mcp.example/mcp <access token> 20
"""

import asyncio
import json
import os
import ssl
import sys

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, steps: int) -> None:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    tls = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, verify=tls, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                result = await session.call_tool("count_with_progress", {"steps": steps}, progress_callback=on_progress)
    print(json.dumps({"progress": progress, "result": result.content[0].text, "is_error": bool(result.is_error)}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
