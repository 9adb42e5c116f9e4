"""The official Python MCP SDK's high-level client at a tenant's `/mcp`, through the front door.
It negotiates the protocol the way it does with any server (`server/discover` first, the 2025
handshake only if that fails), lists the tools and calls one, and prints what it saw as JSON:
the negotiated version, the tool names, and the call's text.

    python stateless_client.py https://mcp.example/mcp <access token> whoami
    python stateless_client.py https://mcp.example/mcp login whoami

With `login` instead of a token, the SDK's own OAuth client gets one: it reads the resource's
metadata on the 401, discovers the authorization server, registers, sends "the user's browser"
(below) to authorize with PKCE, and redeems the code.
"""

import asyncio
import json
import os
import ssl
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT_URI = "http://127.0.0.1:53682/callback"  # nothing listens there; the browser stops at it


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class FirstForm(HTMLParser):
    """The first form of a page: its action and its inputs' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str, str]] = []  # (type, name, value)
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action, self._inside = values.get("action", ""), True
        elif tag == "input" and self._inside and "name" in values:
            self.fields.append((values.get("type", "text"), values["name"], values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


class Browser:
    """The user's browser: follows redirects with each site's cookies, approves Gatehouse's
    consent page, and stops at the client's redirect URI with the code."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self.tls = tls
        self.result: AuthorizationCodeResult | None = None

    async def open(self, url: str) -> None:
        async with httpx2.AsyncClient(verify=self.tls, follow_redirects=False, timeout=30) as http:
            method, body = "GET", None
            for _ in range(8):
                response = await http.request(method, url, data=body)
                method, body = "GET", None
                if response.status_code in (301, 302, 303, 307):
                    url = urljoin(url, response.headers["location"])
                    if url.startswith(REDIRECT_URI):
                        query = parse_qs(urlparse(url).query)
                        if "code" not in query:
                            raise RuntimeError(f"the authorization ended without a code: {url}")
                        self.result = AuthorizationCodeResult(
                            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
                        )
                        return
                elif response.status_code == 200:
                    form = FirstForm()
                    form.feed(response.text)
                    if form.action is None:
                        raise RuntimeError(f"a page without a form at {url}")
                    body = {name: value for kind, name, value in form.fields if kind == "hidden"}
                    if "csrf" in body:
                        body["decision"] = "approve"
                    method, url = "POST", urljoin(url, form.action)
                else:
                    raise RuntimeError(f"the login stopped at {url}: {response.status_code} {response.text[:200]}")
        raise RuntimeError("the login did not come back to the client")

    async def callback(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise RuntimeError("no authorization code")
        return self.result


async def main(url: str, token: str, tool: str) -> None:
    tls = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    if token == "login":
        browser = Browser(tls)
        auth = OAuthClientProvider(
            server_url=url,
            client_metadata=OAuthClientMetadata(
                client_name="Python MCP SDK (Gatehouse test)",
                redirect_uris=[REDIRECT_URI],
                grant_types=["authorization_code", "refresh_token"],
                token_endpoint_auth_method="none",
                scope="mcp:tools email",
            ),
            storage=MemoryStorage(),
            redirect_handler=browser.open,
            callback_handler=browser.callback,
        )
        http = httpx2.AsyncClient(auth=auth, verify=tls, timeout=30)
    else:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, verify=tls, timeout=30)
    await list_and_call(url, http, tool)


async def list_and_call(url: str, http: httpx2.AsyncClient, tool: str) -> None:
    """Lists the tools and calls `tool` through `http`; prints what was seen as one JSON line."""
    async with http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = await client.list_tools()
            result = await client.call_tool(tool, {})
            print(
                json.dumps(
                    {
                        "version": client.protocol_version,
                        "tools": sorted(t.name for t in listed.tools),
                        "text": result.content[0].text if result.content else "",
                        "structured": result.structured_content,
                        "is_error": bool(result.is_error),
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
