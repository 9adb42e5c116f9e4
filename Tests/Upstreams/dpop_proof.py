"""A DPoP proof (RFC 9449 §4.2) built with PyJWT, a JOSE implementation we did not write, so
that our verifiers are checked against it: the key is read from a PEM file (ES256), its public
half goes into the header as a JWK, and the proof is printed as one JSON line.

    python dpop_proof.py <PEM file> <method> <url> [<access token>]
"""

import base64
import hashlib
import json
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import ECAlgorithm


def main(pem_path: str, method: str, url: str, token: str | None) -> None:
    with open(pem_path, "rb") as pem:
        key = load_pem_private_key(pem.read(), password=None)
    public_jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        digest = hashlib.sha256(token.encode("ascii")).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    proof = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public_jwk})
    print(json.dumps({"proof": proof, "jwk": public_jwk}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
