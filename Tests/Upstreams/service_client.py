"""The official Python MCP SDK's client at a tenant's `/mcp` as a service principal: its own
client credentials providers get the token (RFC 6749 §4.4) after discovering the authorization
server from the 401, with `client_secret_basic` or with `private_key_jwt`, whose assertion the
SDK signs with PyJWT (a JOSE implementation we did not write). It lists the tools, calls one and
prints what it saw as JSON.

    python service_client.py <mcp url> <issuer> basic <client id> <client secret> whoami
    python service_client.py <mcp url> <issuer> jwt <client id> <PEM file of an ES256 key> whoami
"""

import asyncio
import os
import ssl
import sys

import httpx2
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)

from stateless_client import MemoryStorage, list_and_call


async def main(url: str, issuer: str, method: str, client_id: str, credential: str, tool: str) -> None:
    tls = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    if method == "basic":
        auth = ClientCredentialsOAuthProvider(
            server_url=url,
            storage=MemoryStorage(),
            client_id=client_id,
            client_secret=credential,
            token_endpoint_auth_method="client_secret_basic",
            scope="mcp:tools",
            issuer=issuer,
        )
    else:
        with open(credential) as pem:
            signing = SignedJWTParameters(issuer=client_id, subject=client_id, signing_key=pem.read(), signing_algorithm="ES256")
        auth = PrivateKeyJWTOAuthProvider(
            server_url=url,
            storage=MemoryStorage(),
            client_id=client_id,
            assertion_provider=signing.create_assertion_provider(),
            scope="mcp:tools",
            issuer=issuer,
        )
    await list_and_call(url, httpx2.AsyncClient(auth=auth, verify=tls, timeout=30), tool)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
